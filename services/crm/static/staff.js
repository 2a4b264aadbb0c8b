"use strict";
// Shared helpers of the staff pages: the bearer token, JSON calls, DOM building, the restricted
// placeholder and a Server-Sent Events reader that can send headers.
const cw = (() => {
  const TOKEN_KEY = "clientwork.token";

  // A link such as /ui/board#token=... signs the tab in. The fragment never reaches a server or a log.
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.has("token")) {
    sessionStorage.setItem(TOKEN_KEY, fragment.get("token"));
    history.replaceState(null, "", location.pathname + location.search);
  }

  function token() {
    return sessionStorage.getItem(TOKEN_KEY);
  }

  function setToken(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  }

  function requireToken() {
    if (token()) return true;
    location.href = "/ui/login?next=" + encodeURIComponent(location.pathname + location.search);
    return false;
  }

  // Call CRM's JSON API (or another service's, given a full URL). Resolves to
  // {ok, status, body}; network failures resolve with status 0 instead of throwing.
  async function api(method, path, body, extraHeaders) {
    const headers = Object.assign({ Accept: "application/json" }, extraHeaders || {});
    if (token()) headers.Authorization = "Bearer " + token();
    const init = { method, headers };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (error) {
      return { ok: false, status: 0, body: { message: "the service is unreachable: " + error.message } };
    }
    if (response.status === 401) {
      setToken(null);
      requireToken();
    }
    let parsed = null;
    const text = await response.text();
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch (_) {
        parsed = { message: text };
      }
    }
    return { ok: response.ok, status: response.status, body: parsed };
  }

  // One readable line from an error response: each invalid field and its reason once, after the
  // message unless the message only repeats them (CRM's 422 message lists the same fields).
  function errorText(response) {
    const body = response.body || {};
    const error = body.error || body;
    const message = String(error.message || error.detail || "request failed with status " + response.status);
    const fields = [];
    for (const item of error.errors || error.fields || []) {
      const field = Array.isArray(item.loc) ? item.loc.join(".") : item.field;
      const text = (field ? field + ": " : "") + (item.reason || item.msg || item.message || "");
      if (!fields.includes(text)) fields.push(text);
    }
    if (fields.length && fields.every((text) => message.includes(text))) return fields.join(" · ");
    return [message, ...fields.filter((text) => !message.includes(text))].join(" · ");
  }

  // Build an element. Children are nodes or strings; strings become text nodes, never HTML.
  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "dataset") Object.assign(node.dataset, value);
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // Amounts arrive from the API as decimal strings such as "99999999999999.99". A JavaScript number
  // keeps only 15 to 17 significant digits, so money() never converts them: it groups the digits as
  // text and takes only separators, digits, the currency symbol and its placement from Intl.
  const DECIMAL = /^(-?)(\d+)(?:\.(\d+))?$/;
  const NUMBER_PARTS = new Set(["integer", "group", "decimal", "fraction"]);
  const numberStyles = new Map();

  // The current locale's way to write an amount in `currency`, or a plain number when it is empty.
  function numberStyle(currency) {
    const key = currency || "";
    if (numberStyles.has(key)) return numberStyles.get(key);

    const twoDecimals = { minimumFractionDigits: 2, maximumFractionDigits: 2 };
    let format = new Intl.NumberFormat(undefined, twoDecimals);
    let layout = format;
    let known = false;
    if (currency) {
      try {
        format = new Intl.NumberFormat(undefined, { style: "currency", currency });
        layout = new Intl.NumberFormat(undefined, { style: "currency", currency, ...twoDecimals });
        known = true;
      } catch (_) {
        // Intl rejects a code that is not three letters, so the amount is followed by the code as sent.
      }
    }

    const digitFormat = new Intl.NumberFormat(undefined, { useGrouping: false, maximumFractionDigits: 0 });
    const positive = layout.formatToParts(1234567890.5);
    const partOf = (parts, type) => (parts.find((part) => part.type === type) || { value: "" }).value;
    const groupSizes = (parts) => parts.filter((part) => part.type === "integer").map((part) => part.value.length);
    const sizes = groupSizes(positive);
    const primary = sizes.length > 1 ? sizes[sizes.length - 1] : Infinity;
    const secondary = sizes.length > 2 ? sizes[sizes.length - 2] : primary;

    const style = {
      known,
      digits: Array.from({ length: 10 }, (_, digit) => digitFormat.format(digit)),
      decimal: partOf(positive, "decimal") || ".",
      group: partOf(positive, "group"),
      // Sizes of the last digit group and of the groups before it: 3 and 3 in en-US, 3 and 2 in en-IN.
      primary,
      secondary,
      // Some locales, such as es and pl, leave a four-digit number ungrouped.
      minimumGrouping: groupSizes(layout.formatToParts(1234)).length > 1 ? 1 : 2,
      fractionDigits: format.resolvedOptions().minimumFractionDigits,
      positive,
      negative: layout.formatToParts(-1234567890.5),
    };

    numberStyles.set(key, style);
    return style;
  }

  function groupDigits(whole, style) {
    if (!style.group || whole.length < style.primary + style.minimumGrouping) return whole;
    const groups = [whole.slice(-style.primary)];
    let rest = whole.slice(0, -style.primary);
    while (rest.length > style.secondary) {
      groups.unshift(rest.slice(-style.secondary));
      rest = rest.slice(0, -style.secondary);
    }
    if (rest) groups.unshift(rest);
    return groups.join(style.group);
  }

  // Format a decimal string exactly, with the currency as the locale writes it. An amount without a
  // currency is marked "no currency" instead of getting one assumed, and a value that is not a decimal
  // string is shown as sent.
  function money(amount, currency) {
    if (amount === null || amount === undefined) return "";
    const match = DECIMAL.exec(String(amount).trim());
    if (!match) return String(amount) + (currency ? " " + currency : "");
    const [, sign, integerDigits, fractionDigits = ""] = match;
    const style = numberStyle(currency);
    const whole = integerDigits.replace(/^0+(?=\d)/, "");
    // The currency's usual decimals (2 for RUB, 0 for JPY), or every decimal sent when it has more.
    const significant = fractionDigits.replace(/0+$/, "");
    const fraction = significant.length > style.fractionDigits ? fractionDigits : significant.padEnd(style.fractionDigits, "0");
    const localDigits = (text) => text.replace(/\d/g, (digit) => style.digits[digit]);
    const number = localDigits(groupDigits(whole, style)) + (fraction ? style.decimal + localDigits(fraction) : "");
    if (!currency) return (sign ? "-" : "") + number + ", no currency";
    if (!style.known) return (sign ? "-" : "") + number + " " + currency;

    // Keep the sample's currency sign, minus sign and spacing, and put the digits where its number was.
    let text = "";
    let placed = false;
    for (const part of sign ? style.negative : style.positive) {
      if (!NUMBER_PARTS.has(part.type)) text += part.value;
      else if (!placed) {
        text += number;
        placed = true;
      }
    }
    return text;
  }

  // A linked record the user may not read: never its content, only why and whom to ask.
  // The element carries the record's type and id so a page can offer an access request.
  function restricted(reference) {
    // The tasks service names the owner by id alone and CRM as an object. A record without an owner
    // is for admins to open, because they see every access request.
    const owner = reference.owner || {};
    const ownerName =
      typeof owner === "string" ? owner : owner.name || owner.user_id || owner.id || "an administrator";
    return el(
      "span",
      {
        class: "restricted",
        dataset: { recordType: reference.type || reference.record_type || "", recordId: reference.id || "" },
      },
      el("strong", {}, "Access restricted"),
      ": " + (reference.reason || "you have no right to read this record") + ". Ask " + ownerName + "."
    );
  }

  // Read a Server-Sent Events stream with fetch, so the bearer token travels in a header.
  // Reconnects after a drop with Last-Event-ID and stops when `signal` aborts.
  // handlers: {onEvent(type, data, id), onState("open" | "closed" | "error", detail)}.
  async function stream(path, handlers, options) {
    const settings = Object.assign({ lastEventId: null, signal: null, retryMs: 1000 }, options || {});
    let lastEventId = settings.lastEventId;
    let retryMs = settings.retryMs;
    while (!(settings.signal && settings.signal.aborted)) {
      const headers = { Accept: "text/event-stream", Authorization: "Bearer " + token() };
      if (lastEventId) headers["Last-Event-ID"] = lastEventId;
      try {
        const response = await fetch(path, { headers, signal: settings.signal, cache: "no-store" });
        if (!response.ok) {
          handlers.onState && handlers.onState("error", { status: response.status });
          if (response.status === 401 || response.status === 403 || response.status === 404) return;
        } else {
          handlers.onState && handlers.onState("open", {});
          const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
          let buffer = "";
          let event = { type: "message", data: [], id: null };
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buffer += value;
            let newline;
            while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
              const line = buffer.slice(0, newline);
              buffer = buffer.slice(newline + (buffer.startsWith("\r\n", newline) ? 2 : 1));
              if (line === "") {
                if (event.id !== null) lastEventId = event.id;
                if (event.data.length) {
                  handlers.onEvent(event.type, JSON.parse(event.data.join("\n")), event.id);
                }
                event = { type: "message", data: [], id: null };
                continue;
              }
              if (line.startsWith(":")) continue;
              const colon = line.indexOf(":");
              const field = colon < 0 ? line : line.slice(0, colon);
              const data = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
              if (field === "event") event.type = data;
              else if (field === "data") event.data.push(data);
              else if (field === "id") event.id = data;
              else if (field === "retry" && /^\d+$/.test(data)) retryMs = Number(data);
            }
          }
          handlers.onState && handlers.onState("closed", { lastEventId });
        }
      } catch (error) {
        if (error.name === "AbortError") return;
        handlers.onState && handlers.onState("error", { message: error.message });
      }
      await new Promise((resolve) => setTimeout(resolve, retryMs));
    }
  }

  return { token, setToken, requireToken, api, errorText, el, money, restricted, stream };
})();
