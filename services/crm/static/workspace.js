"use strict";
// The client workspace: the company's deals, tasks, documents and files in tabs with counters, and a
// form that creates a task for the company in the tasks service.
(() => {
  if (!cw.requireToken()) return;
  const el = cw.el;
  const main = document.getElementById("workspace-page");
  const companyId = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop());
  const TABS = [
    ["deals", "Deals"],
    ["tasks", "Tasks"],
    ["documents", "Documents"],
    ["files", "Files"],
    ["contacts", "Contacts"],
  ];
  let activeTab = "deals";
  let pending = new Map();

  function fail(text) {
    document.getElementById("loading").hidden = true;
    const error = document.getElementById("page-error");
    error.textContent = text;
    error.hidden = false;
  }

  async function fetchWorkspace() {
    return cw.api("GET", "/companies/" + companyId + "/workspace");
  }

  async function load() {
    const [response, requests] = await Promise.all([fetchWorkspace(), cwf.pendingRequests()]);
    pending = requests;
    document.getElementById("loading").hidden = true;
    if (response.status === 403 && response.body && response.body.status === "restricted") {
      const reference = { type: "company", id: companyId, reason: response.body.reason, owner: response.body.owner };
      main.append(
        el("h1", {}, "Restricted client"),
        el(
          "section",
          { class: "panel" },
          el("p", {}, "You may not read this company."),
          cwf.restrictedWithRequest(reference, { pending: pending.get("company:" + companyId) })
        )
      );
      return;
    }
    if (!response.ok) {
      fail(cw.errorText(response));
      return;
    }
    render(response.body);
  }

  function render(workspace) {
    const company = workspace.company;
    document.title = company.name + " · clientwork";
    const facts = [company.tax_id && "Tax id " + company.tax_id, (company.phones || [])[0], company.owner_id && "Owner " + company.owner_id]
      .filter(Boolean)
      .join(" · ");
    main.append(
      el("header", { class: "card-header" }, el("h1", { id: "company-name" }, company.name), el("p", { class: "muted" }, facts)),
      el(
        "div",
        { class: "card-layout" },
        el("div", { class: "card-main" }, el("nav", { class: "tabs", role: "tablist", id: "tabs" }), el("section", { class: "panel", id: "tab-panel", role: "tabpanel" })),
        el("div", { class: "card-side" }, taskPanel())
      )
    );
    renderTabs(workspace);
  }

  function renderTabs(workspace) {
    const tabs = document.getElementById("tabs");
    tabs.replaceChildren();
    for (const [key, label] of TABS) {
      const section = workspace[key];
      tabs.append(
        el(
          "button",
          {
            type: "button",
            role: "tab",
            class: "tab" + (key === activeTab ? " active" : ""),
            "aria-selected": key === activeTab ? "true" : "false",
            dataset: { tab: key },
            onclick: () => {
              activeTab = key;
              renderTabs(workspace);
            },
          },
          label + " ",
          el("span", { class: "counter", dataset: { counter: key } }, String(section.count))
        )
      );
    }
    const panel = document.getElementById("tab-panel");
    const items = workspace[activeTab].items;
    const list = el("ul", { class: "items", id: "tab-items" });
    if (!items.length) list.append(el("li", { class: "muted" }, "Nothing here yet."));
    for (const item of items) list.append(el("li", {}, itemNode(activeTab, item)));
    panel.replaceChildren(list);
  }

  function itemNode(tab, item) {
    if (item.status === "restricted") {
      // Deals are CRM records, so their owner can be asked here; tasks, documents and files belong to
      // other services and only show whom to ask.
      if (tab === "deals") return cwf.restrictedWithRequest(item, { dealId: item.id, pending: pending.get("deal:" + item.id) });
      return cw.restricted(item);
    }
    const record = item.record || {};
    switch (tab) {
      case "deals":
        return el(
          "span",
          {},
          el("a", { href: "/ui/deals/" + item.id }, record.title),
          el("span", { class: "stage stage-" + record.stage_semantics }, record.stage_name),
          record.amount !== null ? el("span", { class: "amount" }, cw.money(record.amount, record.currency)) : null,
          record.markers && record.markers.length ? el("span", { class: "marker-count" }, record.markers.length + " need attention") : null
        );
      case "tasks":
        return el(
          "span",
          {},
          el("strong", {}, record.title),
          el("span", { class: "status" }, " " + String(record.status).replace("_", " ")),
          el("span", { class: "muted" }, " · " + record.owner_id),
          record.deal_id ? el("a", { href: "/ui/deals/" + record.deal_id, class: "muted" }, " · deal") : null
        );
      case "documents":
        return el("span", {}, el("strong", {}, record.title), el("span", { class: "muted" }, " " + record.kind + (record.number ? " № " + record.number : "")));
      case "files":
        return el("span", {}, el("strong", {}, record.file_name), el("span", { class: "muted" }, " " + Math.max(1, Math.round(record.size / 1024)) + " KB"));
      default:
        return el("span", {}, record.name, el("span", { class: "muted" }, " " + [(record.phones || [])[0], (record.emails || [])[0]].filter(Boolean).join(" · ")));
    }
  }

  function taskPanel() {
    const status = el("p", { class: "muted", id: "counter-status", role: "status" });
    const form = cwf.taskForm({ company_id: companyId }, { onCreated: (task) => waitForCounter(task, status) });
    return el("section", { class: "panel", id: "task-panel" }, el("h2", {}, "New task for this client"), form, status);
  }

  // The workspace counts tasks from CRM's projection, which follows the tasks service's events, so a new
  // task shows up in the counter a moment after it was created.
  async function waitForCounter(task, status) {
    status.textContent = "Waiting for the task to reach the workspace…";
    for (let attempt = 0; attempt < 30; attempt++) {
      const response = await fetchWorkspace();
      if (response.ok && response.body.tasks.items.some((item) => item.id === task.id)) {
        renderTabs(response.body);
        status.textContent = "";
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    status.textContent = "The task was created but has not reached the workspace yet; reload the page in a minute.";
  }

  load().catch((error) => fail("The page failed to load: " + error.message));
})();
