"use strict";
// The deal card: the relationship card, tasks, timeline and markers of one deal, with the forms that
// update the deal, plan the next step, snooze a marker and request access to restricted records.
(() => {
  if (!cw.requireToken()) return;
  const el = cw.el;
  const main = document.getElementById("deal-page");
  const dealId = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop());
  // The version of the deal the page shows, sent as If-Match with an edit.
  let dealVersion = null;

  const MARKERS = {
    task_result: "A linked task has a result to review",
    no_next_step: "No next step and no open task",
    next_step_overdue: "The next step is overdue",
    stale_in_stage: "Too long in this stage",
  };
  const TYPES = {
    company: "company",
    contact: "contact",
    legal_entity: "legal entity",
    project: "project",
    deal: "deal",
  };

  function fail(text) {
    document.getElementById("loading").hidden = true;
    const error = document.getElementById("page-error");
    error.textContent = text;
    error.hidden = false;
  }

  async function load() {
    const [card, pending] = await Promise.all([cw.api("GET", "/deals/" + dealId + "/card"), cwf.pendingRequests()]);
    document.getElementById("loading").hidden = true;
    if (card.status === 403 && card.body && card.body.status === "restricted") {
      renderRestrictedDeal(card.body, pending);
      return;
    }
    if (!card.ok) {
      fail(cw.errorText(card));
      return;
    }
    const [timeline, pipeline] = await Promise.all([
      cw.api("GET", "/deals/" + dealId + "/timeline"),
      cw.api("GET", "/pipelines/" + card.body.deal.pipeline_id),
    ]);
    render(card.body, pending, timeline, pipeline.ok ? pipeline.body : null);
  }

  function renderRestrictedDeal(body, pending) {
    const reference = { type: "deal", id: dealId, reason: body.reason, owner: body.owner };
    document.title = "Restricted deal · clientwork";
    main.append(
      el("h1", {}, "Restricted deal"),
      el(
        "section",
        { class: "panel", id: "deal-restricted" },
        el("p", {}, "You may not read this deal."),
        cwf.restrictedWithRequest(reference, { dealId, pending: pending.get("deal:" + dealId) })
      )
    );
  }

  function render(card, pending, timeline, pipeline) {
    const deal = card.deal;
    dealVersion = card.version;
    document.title = deal.title + " · clientwork";
    const layout = el("div", { class: "card-layout" });
    layout.append(
      el("div", { class: "card-main" }, markersPanel(deal), relationsPanel(card, pending), tasksPanel(card)),
      el("div", { class: "card-side" }, editPanel(deal, pipeline), timelinePanel(timeline))
    );
    main.append(header(deal, card), layout);
  }

  function header(deal, card) {
    const company = card.company && card.company.status === "ok" ? card.company : null;
    return el(
      "header",
      { class: "card-header" },
      el("h1", { id: "deal-title" }, deal.title),
      el(
        "p",
        { class: "facts" },
        el("span", { class: "stage stage-" + deal.stage_semantics }, deal.stage_name),
        deal.amount !== null ? el("span", { class: "amount" }, cw.money(deal.amount, deal.currency)) : null,
        el("span", { class: "muted" }, "Owner " + (deal.owner_id || "none") + (deal.department ? " · " + deal.department : "")),
        company ? el("a", { href: "/ui/companies/" + company.id }, "Client workspace") : null
      ),
      deal.next_step
        ? el("p", {}, "Next step: " + deal.next_step + (deal.next_step_due_at ? " · due " + cwf.dateTime(deal.next_step_due_at) : ""))
        : null
    );
  }

  // Markers with their actions: update the deal, plan the next step, or snooze with a reason.
  function markersPanel(deal) {
    const panel = el("section", { class: "panel", id: "markers" }, el("h2", {}, "Attention"));
    if (!deal.markers.length) {
      panel.append(el("p", { class: "muted" }, "Nothing needs attention."));
      return panel;
    }
    for (const marker of deal.markers) {
      const snooze = snoozeForm(marker.kind);
      const item = el(
        "div",
        { class: "marker", dataset: { marker: marker.kind } },
        el("strong", {}, MARKERS[marker.kind] || marker.kind),
        marker.since ? el("span", { class: "muted" }, " since " + cwf.dateTime(marker.since)) : null,
        el(
          "div",
          { class: "actions" },
          el("button", { type: "button", class: "secondary", onclick: () => focusPanel("edit-panel") }, "Update the deal"),
          el("button", { type: "button", class: "secondary", onclick: () => focusPanel("task-panel") }, "Plan the next step"),
          el("button", { type: "button", class: "secondary", onclick: () => toggle(snooze) }, "Snooze")
        ),
        snooze
      );
      panel.append(item);
    }
    return panel;
  }

  function focusPanel(id) {
    const panel = document.getElementById(id);
    panel.scrollIntoView({ behavior: "smooth", block: "start" });
    const first = panel.querySelector("input, select, textarea");
    if (first) first.focus();
  }

  function toggle(node) {
    node.hidden = !node.hidden;
    if (!node.hidden) node.querySelector("textarea, input").focus();
  }

  function snoozeForm(kind) {
    const reason = el("textarea", { rows: 2, maxlength: 2000, required: true });
    const until = el("input", { type: "date", required: true, value: isoDate(addDays(new Date(), 3)) });
    const form = el(
      "form",
      { class: "snooze-form", hidden: true },
      cwf.field("Reason", "reason", reason),
      cwf.field("Hide until", "until", until),
      ...cwf.formFooter("Snooze")
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      cwf.submitting(form, async () => {
        const body = { reason: reason.value, until: until.value ? new Date(until.value + "T09:00").toISOString() : "" };
        const response = await cw.api("POST", "/deals/" + dealId + "/markers/" + kind + "/snooze", body);
        if (!response.ok) cwf.showErrors(form, response);
        else location.reload();
      });
    });
    return form;
  }

  function addDays(date, days) {
    const copy = new Date(date);
    copy.setDate(copy.getDate() + days);
    return copy;
  }

  function isoDate(date) {
    const pad = (n) => String(n).padStart(2, "0");
    return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate());
  }

  function relationsPanel(card, pending) {
    const rows = [
      ["Company", card.company],
      ...card.contacts.map((contact) => [contact && contact.id === (card.primary_contact || {}).id ? "Primary contact" : "Contact", contact]),
      ["Client's legal entity", card.client_legal_entity],
      ["Our legal entity", card.our_legal_entity],
      ["Project", card.project],
    ];
    const list = el("dl", { class: "relations" });
    for (const [label, reference] of rows) {
      list.append(el("dt", {}, label), el("dd", {}, referenceNode(reference, pending)));
    }
    const counts = card.counts;
    return el(
      "section",
      { class: "panel", id: "relations" },
      el("h2", {}, "Client"),
      list,
      el(
        "p",
        { class: "counts" },
        el("span", {}, "Tasks: " + counts.tasks + " (" + counts.open_tasks + " open)"),
        el("span", {}, "Documents: " + counts.documents),
        el("span", {}, "Files: " + counts.files)
      )
    );
  }

  function referenceNode(reference, pending) {
    if (!reference) return el("span", { class: "muted" }, "—");
    if (reference.status === "restricted") {
      return cwf.restrictedWithRequest(reference, { dealId, pending: pending.get(reference.type + ":" + reference.id) });
    }
    if (reference.status === "not_found") return el("span", { class: "error" }, "This " + TYPES[reference.type] + " no longer exists.");
    if (reference.status === "deleted") return el("span", { class: "muted" }, "This " + TYPES[reference.type] + " was deleted.");
    const record = reference.record || {};
    const name = record.name || record.legal_name || reference.id;
    const details = [record.tax_id, (record.phones || [])[0], (record.emails || [])[0]].filter(Boolean).join(" · ");
    const title = reference.type === "company" ? el("a", { href: "/ui/companies/" + reference.id }, name) : el("span", {}, name);
    return el("span", { class: "reference", dataset: { recordType: reference.type, recordId: reference.id } }, title, details ? el("span", { class: "muted" }, " " + details) : null);
  }

  function tasksPanel(card) {
    const list = el("ul", { class: "items", id: "deal-tasks" }, el("li", { class: "muted" }, "Loading tasks…"));
    const form = cwf.taskForm({ deal_id: dealId }, { submitLabel: "Create task", onCreated: () => loadTasks(list) });
    loadTasks(list);
    return el(
      "section",
      { class: "panel", id: "task-panel" },
      el("h2", {}, "Tasks"),
      list,
      el("h3", {}, "Plan the next step"),
      el("p", { class: "muted" }, "The task is tied to this deal; the tasks service fills in the client and project from it."),
      form
    );
  }

  async function loadTasks(list) {
    const { tasks_url: tasksUrl } = await cwf.config();
    const response = await cw.api("GET", tasksUrl + "/tasks?deal_id=" + encodeURIComponent(dealId) + "&limit=50");
    list.replaceChildren();
    if (!response.ok) {
      list.append(el("li", { class: "error" }, "Tasks could not be loaded: " + cw.errorText(response)));
      return;
    }
    if (!response.body.items.length) list.append(el("li", { class: "muted" }, "No tasks yet."));
    for (const task of response.body.items) {
      list.append(
        el(
          "li",
          { dataset: { taskId: task.id } },
          el("strong", {}, task.title),
          el("span", { class: "status" }, " " + task.status.replace("_", " ")),
          el("span", { class: "muted" }, " · " + (task.owner_id || "") + (task.due_at ? " · due " + cwf.dateTime(task.due_at) : ""))
        )
      );
    }
  }

  // The edit form: stage, amount, next step, custom fields and a comment, through the deal API.
  function editPanel(deal, pipeline) {
    const stage = el("select", {});
    for (const item of pipeline ? pipeline.stages : [{ id: deal.stage_id, name: deal.stage_name }]) {
      stage.append(el("option", { value: item.id, selected: item.id === deal.stage_id }, item.name));
    }
    const amount = el("input", { type: "text", inputmode: "decimal", value: deal.amount === null ? "" : deal.amount });
    const currency = el("input", { type: "text", maxlength: 3, size: 4, value: deal.currency || "" });
    const nextStep = el("input", { type: "text", maxlength: 1000, value: deal.next_step || "" });
    const nextDue = el("input", { type: "date", value: deal.next_step_due_at ? deal.next_step_due_at.slice(0, 10) : "" });
    const comment = el("textarea", { rows: 3, maxlength: 20000 });
    const custom = (pipeline ? pipeline.fields : []).map((spec) => customInput(spec, deal.custom_fields[spec.key]));
    const form = el(
      "form",
      { id: "edit-form" },
      cwf.field("Stage", "stage_id", stage),
      el("div", { class: "row" }, cwf.field("Amount", "amount", amount), cwf.field("Currency", "currency", currency, "ISO code, e.g. RUB")),
      cwf.field("Next step", "next_step", nextStep),
      cwf.field("Next step due", "next_step_due_at", nextDue),
      ...custom.map((item) => item.node),
      cwf.field("Comment", "text", comment),
      ...cwf.formFooter("Save")
    );

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const changes = dealChanges(deal, { stage, amount, currency, nextStep, nextDue }, custom);
      cwf.submitting(form, () => saveDeal(form, changes, comment.value.trim()));
    });
    return el("section", { class: "panel", id: "edit-panel" }, el("h2", {}, "Update the deal"), form);
  }

  // Save the changed fields, then the comment; a 422 stops there and shows next to its fields.
  async function saveDeal(form, changes, comment) {
    if (Object.keys(changes).length) {
      // If-Match makes a change based on an outdated card fail with 409 instead of undoing a colleague's edit.
      const response = await cw.api("PATCH", "/deals/" + dealId, changes, { "If-Match": '"' + dealVersion + '"' });
      if (!response.ok) {
        cwf.showErrors(form, response);
        return;
      }
    }
    if (comment) {
      const response = await cw.api("POST", "/deals/" + dealId + "/comments", { text: comment });
      if (!response.ok) {
        cwf.showErrors(form, response);
        return;
      }
    }
    location.reload();
  }

  function customInput(spec, value) {
    let input;
    if (spec.type === "choice") {
      input = el("select", {}, el("option", { value: "" }, "—"), ...spec.options.map((option) => el("option", { value: option, selected: option === value }, option)));
    } else if (spec.type === "yes_no") {
      input = el("select", {}, el("option", { value: "" }, "—"), el("option", { value: "true", selected: value === true }, "yes"), el("option", { value: "false", selected: value === false }, "no"));
    } else {
      const type = spec.type === "date" ? "date" : "text";
      input = el("input", { type, value: value === null || value === undefined ? "" : String(value) });
    }
    return { spec, input, before: value === undefined ? null : value, node: cwf.field(spec.name, spec.key, input) };
  }

  function customValue(item) {
    const raw = item.input.value.trim();
    if (raw === "") return null;
    if (item.spec.type === "yes_no") return raw === "true";
    if (item.spec.type === "number") return Number.isNaN(Number(raw)) ? raw : Number(raw);
    return raw;
  }

  // Only the fields the user changed, so stage rules judge what they meant to change.
  function dealChanges(deal, inputs, custom) {
    const changes = {};
    if (inputs.stage.value !== deal.stage_id) changes.stage_id = inputs.stage.value;
    const amount = inputs.amount.value.trim().replace(/\s/g, "").replace(",", ".");
    if (amount !== (deal.amount === null ? "" : String(deal.amount))) changes.amount = amount === "" ? null : amount;
    const currency = inputs.currency.value.trim().toUpperCase();
    if (currency !== (deal.currency || "")) changes.currency = currency || null;
    if (inputs.nextStep.value.trim() !== (deal.next_step || "")) changes.next_step = inputs.nextStep.value.trim() || null;
    const due = inputs.nextDue.value;
    if (due !== (deal.next_step_due_at ? deal.next_step_due_at.slice(0, 10) : "")) {
      changes.next_step_due_at = due ? new Date(due + "T18:00").toISOString() : null;
    }
    const customChanges = {};
    for (const item of custom) {
      const value = customValue(item);
      if (JSON.stringify(value) !== JSON.stringify(item.before)) customChanges[item.spec.key] = value;
    }
    if (Object.keys(customChanges).length) changes.custom_fields = customChanges;
    return changes;
  }

  function timelinePanel(response) {
    const list = el("ol", { class: "timeline", id: "timeline" });
    if (!response.ok) list.append(el("li", { class: "error" }, "The timeline could not be loaded: " + cw.errorText(response)));
    else {
      for (const entry of response.body.items.slice().reverse()) {
        const who = entry.cause && (entry.cause.name || entry.cause.id);
        list.append(
          el(
            "li",
            { dataset: { kind: entry.kind } },
            el("span", { class: "when muted" }, cwf.dateTime(entry.at) + (who ? " · " + who : "")),
            el("span", { class: "what" }, describe(entry))
          )
        );
      }
    }
    return el("section", { class: "panel", id: "timeline-panel" }, el("h2", {}, "Timeline"), list);
  }

  function describe(entry) {
    const data = entry.data || {};
    const requester = data.requester ? data.requester.name || data.requester.id : "";
    const record = TYPES[data.record_type] || data.record_type;
    switch (entry.kind) {
      case "created":
        return "Deal created in stage " + data.stage;
      case "updated":
        return "Changed " + (data.changed || []).join(", ");
      case "stage_changed":
        return "Moved from " + data.from_stage.name + " to " + data.to_stage.name;
      case "comment":
        return "Comment: " + data.text;
      case "task_result":
        // A task leaves one entry when it is done and one when its creator accepts it.
        return "Task " + String(data.status || "finished").replace(/_/g, " ") + ": " + (data.title || "") +
          (data.result ? " · result: " + data.result : "");
      case "marker_snoozed":
        return "Snoozed “" + (MARKERS[data.marker] || data.marker) + "” until " + cwf.dateTime(data.until) + ": " + data.reason;
      case "access_requested":
        return requester + " requested access to the " + record + ": " + data.reason;
      case "access_granted":
        return "Access to the " + record + " granted to " + requester + " for " + data.days + " days, until " + cwf.dateTime(data.expires_at);
      case "access_declined":
        return "Access to the " + record + " declined for " + requester + (data.reason ? ": " + data.reason : "");
      case "deleted":
        return "Deal deleted";
      default:
        return entry.kind.replace(/_/g, " ");
    }
  }

  load().catch((error) => fail("The page failed to load: " + error.message));
})();
