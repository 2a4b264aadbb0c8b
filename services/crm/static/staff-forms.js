"use strict";
// Form helpers of the staff pages: errors next to the field they name, the access-request form for a
// restricted record, and the task form that posts to the tasks service.
const cwf = (() => {
  const el = (...args) => cw.el(...args);
  let configPromise = null;

  // The page configuration that CRM serves: {tasks_url}.
  function config() {
    if (!configPromise) {
      configPromise = fetch("/ui/config.json", { headers: { Accept: "application/json" } }).then((r) => r.json());
    }
    return configPromise;
  }

  // A labelled input with a slot for its error. `name` is the API's field name.
  function field(label, name, input, hint) {
    input.id = input.id || "f-" + name.replace(/\W/g, "-") + "-" + Math.random().toString(36).slice(2, 7);
    input.name = name;
    return el(
      "div",
      { class: "field", dataset: { field: name } },
      el("label", { for: input.id }, label),
      input,
      hint ? el("p", { class: "hint muted" }, hint) : null,
      el("p", { class: "error field-error", role: "alert", hidden: true })
    );
  }

  function clearErrors(form) {
    for (const node of form.querySelectorAll(".field-error, .form-error")) {
      node.textContent = "";
      node.hidden = true;
    }
    for (const node of form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
  }

  // Field names as the APIs report them: "body.amount", "amount", "client.deal_id", "custom_fields.budget".
  function errorItems(response) {
    const body = response.body || {};
    const items = [];
    for (const item of body.errors || []) {
      const name = Array.isArray(item.loc) ? item.loc.join(".") : item.field;
      items.push({ field: fieldName(name), reason: item.reason || item.msg || "" });
    }
    if (!items.length && body.field) items.push({ field: fieldName(body.field), reason: body.message });
    return items;
  }

  // A custom field's error names it with or without the "custom_fields." prefix; the form uses its key.
  function fieldName(name) {
    return name ? String(name).replace(/^body\./, "").replace(/^custom_fields\./, "") : "";
  }

  // Put each error next to its field; what names no field of the form goes to the form's own error line.
  function showErrors(form, response) {
    clearErrors(form);
    const leftover = [];
    for (const item of errorItems(response)) {
      const slot = findField(form, item.field);
      if (slot) {
        const error = slot.querySelector(".field-error");
        const reason = sentence(item.reason);
        if (!error.textContent.includes(reason)) {
          error.textContent = (error.textContent ? error.textContent + " " : "") + reason;
        }
        error.hidden = false;
        const input = slot.querySelector("input, select, textarea");
        if (input) input.setAttribute("aria-invalid", "true");
      } else {
        const text = (item.field ? item.field + ": " : "") + item.reason;
        if (!leftover.includes(text)) leftover.push(text);
      }
    }
    const formError = form.querySelector(".form-error");
    if (leftover.length) formError.textContent = leftover.join(" · ");
    else if (!errorItems(response).length) formError.textContent = cw.errorText(response);
    formError.hidden = !formError.textContent;
  }

  function findField(form, name) {
    if (!name) return null;
    for (const slot of form.querySelectorAll("[data-field]")) {
      const own = slot.dataset.field;
      if (own === name || name.startsWith(own + ".")) return slot;
    }
    return null;
  }

  function sentence(text) {
    const value = String(text || "").trim();
    if (!value) return "";
    const capitalized = value.charAt(0).toUpperCase() + value.slice(1);
    return /[.!?]$/.test(value) ? capitalized : capitalized + ".";
  }

  function formFooter(label) {
    return [
      el("p", { class: "error form-error", role: "alert", hidden: true }),
      el("div", { class: "actions" }, el("button", { type: "submit" }, label)),
    ];
  }

  async function submitting(form, action) {
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      await action();
    } finally {
      button.disabled = false;
    }
  }

  // The restricted placeholder of `reference` with a "Request access" action that sends its owner a request.
  // options: {dealId, pending (an outgoing request already waiting), onSent(request)}.
  function restrictedWithRequest(reference, options) {
    const settings = options || {};
    const wrapper = el("div", { class: "restricted-item" }, cw.restricted(reference));
    const status = el("p", { class: "request-status muted" });
    if (settings.pending) {
      status.textContent = requestStatusText(settings.pending);
      wrapper.append(status);
      return wrapper;
    }
    const reason = el("textarea", { rows: 3, maxlength: 2000, required: true, placeholder: "Why do you need it?" });
    const form = el(
      "form",
      { class: "request-form", hidden: true },
      field("Reason for the owner", "reason", reason),
      ...formFooter("Send request")
    );
    const open = el("button", { type: "button", class: "secondary request-access" }, "Request access");
    open.addEventListener("click", () => {
      form.hidden = false;
      open.hidden = true;
      reason.focus();
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      submitting(form, async () => {
        const body = { record_type: reference.type, record_id: reference.id, reason: reason.value };
        if (settings.dealId) body.deal_id = settings.dealId;
        const response = await cw.api("POST", "/access-requests", body);
        if (!response.ok) {
          showErrors(form, response);
          return;
        }
        form.remove();
        status.textContent = requestStatusText(response.body);
        wrapper.append(status);
        if (settings.onSent) settings.onSent(response.body);
      });
    });
    wrapper.append(open, form);
    return wrapper;
  }

  function requestStatusText(request) {
    const owner = (request.owner && request.owner.id) || "an administrator";
    const when = new Date(request.created_at).toLocaleString();
    return "Access requested from " + owner + " on " + when + "; waiting for a decision.";
  }

  // Outgoing requests still waiting, keyed "type:id", so a page shows them instead of a second form.
  async function pendingRequests() {
    const response = await cw.api("GET", "/access-requests?box=outgoing&status=pending");
    const pending = new Map();
    if (response.ok) {
      for (const item of response.body.items) pending.set(item.record.type + ":" + item.record.id, item);
    }
    return pending;
  }

  // A form that creates a task in the tasks service for `client` ({deal_id} or {company_id}).
  function taskForm(client, options) {
    const settings = options || {};
    const title = el("input", { type: "text", maxlength: 500, required: true, value: settings.title || "" });
    const owner = el("input", { type: "text", maxlength: 255, placeholder: "user id; you when empty" });
    const due = el("input", { type: "datetime-local" });
    const expected = el("textarea", { rows: 2, maxlength: 20000 });
    const form = el(
      "form",
      { class: "task-form" },
      field("Task", "title", title),
      field("Owner", "owner_id", owner),
      field("Due", "due_at", due),
      field("Expected result", "expected_result", expected),
      el("div", { class: "field", dataset: { field: "client" } }, el("p", { class: "error field-error", hidden: true })),
      ...formFooter(settings.submitLabel || "Create task")
    );
    const done = el("p", { class: "notice", role: "status" });
    form.append(done);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      done.textContent = "";
      submitting(form, async () => {
        const body = { title: title.value.trim(), client };
        if (owner.value.trim()) body.owner_id = owner.value.trim();
        if (due.value) body.due_at = new Date(due.value).toISOString();
        if (expected.value.trim()) body.expected_result = expected.value.trim();
        const { tasks_url: tasksUrl } = await config();
        const response = await cw.api("POST", tasksUrl + "/tasks", body, { "Idempotency-Key": crypto.randomUUID() });
        if (!response.ok) {
          showErrors(form, response);
          return;
        }
        clearErrors(form);
        form.reset();
        done.textContent = "Task «" + response.body.title + "» created.";
        if (settings.onCreated) settings.onCreated(response.body);
      });
    });
    return form;
  }

  function dateTime(value) {
    return value ? new Date(value).toLocaleString() : "";
  }

  return {
    config,
    field,
    clearErrors,
    showErrors,
    formFooter,
    submitting,
    restrictedWithRequest,
    pendingRequests,
    taskForm,
    dateTime,
  };
})();
