"use strict";
// Access requests: incoming ones to grant for some days or decline, and the user's own with their status.
(() => {
  if (!cw.requireToken()) return;
  const el = cw.el;
  const main = document.getElementById("access-page");
  const TYPES = { company: "Company", contact: "Contact", legal_entity: "Legal entity", project: "Project", deal: "Deal" };
  const STATUS = { pending: "Waiting", granted: "Granted", declined: "Declined", expired: "Expired" };
  const MAX_DAYS = 90;

  function fail(text) {
    document.getElementById("loading").hidden = true;
    const error = document.getElementById("page-error");
    error.textContent = text;
    error.hidden = false;
  }

  async function load() {
    const [incoming, outgoing] = await Promise.all([
      cw.api("GET", "/access-requests?box=incoming"),
      cw.api("GET", "/access-requests?box=outgoing"),
    ]);
    document.getElementById("loading").hidden = true;
    if (!incoming.ok || !outgoing.ok) {
      fail(cw.errorText(incoming.ok ? outgoing : incoming));
      return;
    }
    // Decisions reload the lists, so the page keeps one container and replaces its content.
    let content = document.getElementById("requests");
    if (!content) {
      content = el("div", { id: "requests" });
      main.append(content);
    }
    content.replaceChildren(
      el("h1", {}, "Access requests"),
      section("incoming", "Requests to you", incoming.body.items, incomingItem, "Nobody has asked you for access."),
      section("outgoing", "Your requests", outgoing.body.items, outgoingItem, "You have not asked for access to anything.")
    );
  }

  function section(id, title, items, render, empty) {
    const list = el("ul", { class: "requests" });
    if (!items.length) list.append(el("li", { class: "muted" }, empty));
    for (const item of items) list.append(render(item));
    return el("section", { class: "panel", id }, el("h2", {}, title), list);
  }

  function recordNode(request) {
    const record = request.record;
    const label = TYPES[record.type] || record.type;
    const name = record.name || (record.status === "restricted" ? "(not readable for you)" : record.status.replace("_", " "));
    const href = recordHref(record);
    const title = href && record.status === "ok" ? el("a", { href }, name) : el("span", {}, name);
    const viaDeal = request.deal_id && record.type !== "deal" ? el("a", { href: "/ui/deals/" + request.deal_id, class: "muted" }, " (from a deal card)") : null;
    return el("span", { class: "record" }, label + ": ", title, viaDeal);
  }

  function recordHref(record) {
    if (record.type === "deal") return "/ui/deals/" + record.id;
    if (record.type === "company") return "/ui/companies/" + record.id;
    return null;
  }

  function statusNode(request) {
    const parts = [STATUS[request.status] || request.status];
    if (request.status === "granted") parts.push("until " + cwf.dateTime(request.expires_at));
    if (request.status === "expired") parts.push("on " + cwf.dateTime(request.expires_at));
    if (request.decided_by && request.status !== "pending") parts.push("by " + (request.decided_by.name || request.decided_by.id));
    if (request.decision_reason) parts.push("— " + request.decision_reason);
    return el("span", { class: "request-state state-" + request.status }, parts.join(" "));
  }

  function incomingItem(request) {
    const requester = request.requester;
    const item = el(
      "li",
      { class: "request", dataset: { requestId: request.id, status: request.status } },
      el("div", {}, recordNode(request), " ", statusNode(request)),
      el("p", {}, el("strong", {}, (requester.name || requester.id) + (requester.department ? " (" + requester.department + ")" : "")), " asks: ", el("q", {}, request.reason)),
      el("p", { class: "muted" }, "Asked " + cwf.dateTime(request.created_at))
    );
    if (request.status === "pending") item.append(grantForm(request), declineForm(request));
    return item;
  }

  function grantForm(request) {
    const days = el("input", { type: "number", min: 1, max: MAX_DAYS, value: 7, required: true, class: "days" });
    const form = el("form", { class: "grant-form inline" }, cwf.field("Days of read access", "days", days, "1 to " + MAX_DAYS), ...cwf.formFooter("Grant"));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      decide(form, request, "grant", { days: Number(days.value) });
    });
    return form;
  }

  function declineForm(request) {
    const reason = el("input", { type: "text", maxlength: 2000, placeholder: "optional" });
    const form = el("form", { class: "decline-form inline" }, cwf.field("Reason to decline", "reason", reason), ...cwf.formFooter("Decline"));
    form.querySelector("button[type=submit]").classList.add("secondary");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      decide(form, request, "decline", reason.value.trim() ? { reason: reason.value } : {});
    });
    return form;
  }

  function decide(form, request, action, body) {
    cwf.submitting(form, async () => {
      const response = await cw.api("POST", "/access-requests/" + request.id + "/" + action, body);
      if (!response.ok) {
        cwf.showErrors(form, response);
        return;
      }
      await load();
    });
  }

  function outgoingItem(request) {
    return el(
      "li",
      { class: "request", dataset: { requestId: request.id, status: request.status } },
      el("div", {}, recordNode(request), " ", statusNode(request)),
      el("p", {}, "Asked " + (request.owner.id || "an admin") + " on " + cwf.dateTime(request.created_at) + ": ", el("q", {}, request.reason))
    );
  }

  load().catch((error) => fail("The page failed to load: " + error.message));
})();
