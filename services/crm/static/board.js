"use strict";
// The live deal board: columns by stage, cards that move by drag and drop or by a select, and a
// Server-Sent Events stream that keeps cards and totals current without a reload.
(() => {
  if (!cw.requireToken()) return;

  const MARKERS = {
    task_result: "Task result",
    no_next_step: "No next step",
    next_step_overdue: "Overdue",
    stale_in_stage: "Stale",
  };
  const STATES = { connecting: "Connecting…", open: "Live", closed: "Reconnecting…", error: "Offline, retrying…" };

  const board = document.getElementById("board");
  const picker = document.getElementById("pipeline-picker");
  const streamState = document.getElementById("stream-state");
  const boardError = document.getElementById("board-error");

  // State of the board as the stream describes it.
  let stages = [];
  const cards = new Map();
  let controller = null;

  function showWho() {
    try {
      const claims = JSON.parse(atob(cw.token().split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
      document.getElementById("who").textContent = (claims.name || claims.sub) + (claims.department ? " · " + claims.department : "");
    } catch (_) {
      // A token that is not a readable JWT still works for the API; only the name is missing.
    }
  }

  function setStreamState(state) {
    streamState.dataset.state = state;
    streamState.textContent = STATES[state] || state;
  }

  function showBoardError(text) {
    boardError.textContent = text;
    boardError.hidden = !text;
  }

  function sumsText(sums) {
    const parts = Object.entries(sums || {}).map(([currency, amount]) => cw.money(amount, currency));
    return parts.length ? parts.join(" · ") : "No amounts";
  }

  function markerBadges(kinds, counts) {
    return kinds.map((kind) =>
      cw.el("span", { class: "marker marker-" + kind, title: MARKERS[kind] || kind, dataset: { marker: kind } },
        (MARKERS[kind] || kind) + (counts ? " " + counts[kind] : ""))
    );
  }

  function clientNode(client) {
    if (!client) return cw.el("span", { class: "muted" }, "No client");
    if (client.status === "restricted") return cw.restricted(client);
    if (client.status === "deleted") return cw.el("span", { class: "muted" }, "Client deleted");
    if (client.status === "not_found") return cw.el("span", { class: "muted" }, "Client not found");
    return cw.el("span", { class: "client-name", title: client.name }, client.name);
  }

  function stageSelect(card) {
    const select = cw.el(
      "select",
      { class: "move-select", "aria-label": "Move “" + card.title + "” to stage" },
      stages.map((stage) => cw.el("option", { value: stage.id, selected: stage.id === card.stage_id }, stage.name))
    );
    select.addEventListener("change", () => moveDeal(card.id, select.value));
    return select;
  }

  function cardNode(card) {
    const amount = card.amount !== null ? cw.money(card.amount, card.currency) : "No amount";
    const node = cw.el(
      "article",
      { class: "card", draggable: "true", tabindex: "0", dataset: { dealId: card.id, stageId: card.stage_id } },
      cw.el("a", { class: "card-title", href: "/ui/deals/" + card.id, title: card.title }, card.title),
      cw.el("div", { class: "card-amount" }, amount),
      cw.el("div", { class: "card-client" }, clientNode(card.client)),
      cw.el("div", { class: "card-owner muted", title: card.owner_id || "" }, "Owner: " + (card.owner_id || "nobody")),
      card.markers.length ? cw.el("div", { class: "card-markers" }, markerBadges(card.markers)) : null,
      cw.el("div", { class: "card-move" }, stageSelect(card)),
      cw.el("p", { class: "card-error", role: "alert", hidden: true })
    );
    node.addEventListener("dragstart", (event) => {
      event.dataTransfer.setData("text/plain", card.id);
      event.dataTransfer.effectAllowed = "move";
      node.classList.add("dragging");
    });
    node.addEventListener("dragend", () => node.classList.remove("dragging"));
    return node;
  }

  function columnNode(stage) {
    const list = cw.el("div", { class: "column-cards", dataset: { stageId: stage.id } });
    const column = cw.el(
      "section",
      { class: "column column-" + stage.semantics, dataset: { stageId: stage.id }, "aria-label": stage.name },
      cw.el(
        "header",
        { class: "column-head" },
        cw.el("h2", { class: "column-name", title: stage.name }, stage.name),
        cw.el("span", { class: "column-count" }, "0"),
        cw.el("div", { class: "column-sum" }, ""),
        cw.el("div", { class: "column-markers" })
      ),
      list
    );
    column.addEventListener("dragover", (event) => {
      event.preventDefault();
      event.dataTransfer.dropEffect = "move";
      column.classList.add("drop-target");
    });
    column.addEventListener("dragleave", (event) => {
      if (!column.contains(event.relatedTarget)) column.classList.remove("drop-target");
    });
    column.addEventListener("drop", (event) => {
      event.preventDefault();
      column.classList.remove("drop-target");
      const dealId = event.dataTransfer.getData("text/plain");
      if (dealId) moveDeal(dealId, stage.id);
    });
    return column;
  }

  function columnList(stageId) {
    return board.querySelector('.column-cards[data-stage-id="' + CSS.escape(stageId) + '"]');
  }

  function cardElement(dealId) {
    return board.querySelector('.card[data-deal-id="' + CSS.escape(dealId) + '"]');
  }

  function renderSnapshot(data) {
    stages = data.stages;
    cards.clear();
    document.getElementById("board-title").textContent = data.pipeline.name;
    document.title = data.pipeline.name + " · clientwork";
    board.replaceChildren(...stages.map(columnNode));
    for (const card of data.deals) upsertCard(card, true);
    renderTotals(data.totals);
  }

  // Put the card in its stage's column: new or moved cards go on top, changed ones keep their place.
  function upsertCard(card, append) {
    cards.set(card.id, card);
    const list = columnList(card.stage_id);
    const existing = cardElement(card.id);
    if (!list) {
      if (existing) existing.remove();
      return;
    }
    const node = cardNode(card);
    if (existing && existing.parentElement === list) existing.replaceWith(node);
    else {
      if (existing) existing.remove();
      if (append) list.append(node);
      else list.prepend(node);
    }
  }

  function removeCard(dealId) {
    cards.delete(dealId);
    const existing = cardElement(dealId);
    if (existing) existing.remove();
  }

  function renderTotals(totals) {
    let count = 0;
    for (const stage of stages) {
      const column = board.querySelector('.column[data-stage-id="' + CSS.escape(stage.id) + '"]');
      const values = totals.stages[stage.id] || { count: 0, sums: {}, markers: {} };
      count += values.count;
      column.querySelector(".column-count").textContent = String(values.count);
      column.querySelector(".column-sum").textContent = sumsText(values.sums);
      column.querySelector(".column-markers").replaceChildren(...markerBadges(Object.keys(values.markers), values.markers));
    }
    const markers = Object.entries(totals.markers || {}).map(([kind, n]) => (MARKERS[kind] || kind) + ": " + n);
    document.getElementById("board-summary").textContent =
      count + (count === 1 ? " deal" : " deals") + (markers.length ? " · " + markers.join(" · ") : "");
  }

  function onEvent(type, data) {
    if (type === "snapshot") renderSnapshot(data);
    else if (type === "update") {
      for (const card of data.deals) upsertCard(card, false);
      for (const dealId of data.removed) removeCard(dealId);
      renderTotals(data.totals);
    }
  }

  // Move the card at once, send the stage change, and put it back with the error when a rule rejects it.
  async function moveDeal(dealId, stageId) {
    const card = cards.get(dealId);
    const node = cardElement(dealId);
    if (!card || !node || card.stage_id === stageId) return;
    const origin = node.parentElement;
    const next = node.nextElementSibling;
    columnList(stageId).prepend(node);
    node.classList.add("saving");
    const response = await cw.api("PATCH", "/deals/" + encodeURIComponent(dealId), { stage_id: stageId });
    node.classList.remove("saving");
    if (response.ok) {
      cards.set(dealId, Object.assign({}, card, { stage_id: stageId }));
      node.dataset.stageId = stageId;
      node.querySelector(".card-error").hidden = true;
      return;
    }
    if (node.isConnected) origin.insertBefore(node, next && next.parentElement === origin ? next : null);
    node.querySelector(".move-select").value = card.stage_id;
    const error = node.querySelector(".card-error");
    error.textContent = cw.errorText(response);
    error.hidden = false;
    node.classList.add("rejected");
  }

  // Keyboard users move the focused card with Alt+Left and Alt+Right.
  board.addEventListener("keydown", (event) => {
    const node = event.target.closest && event.target.closest(".card");
    if (!node || !event.altKey || (event.key !== "ArrowLeft" && event.key !== "ArrowRight")) return;
    const index = stages.findIndex((stage) => stage.id === node.dataset.stageId);
    const target = stages[index + (event.key === "ArrowLeft" ? -1 : 1)];
    if (target) {
      event.preventDefault();
      moveDeal(node.dataset.dealId, target.id).then(() => {
        const moved = cardElement(node.dataset.dealId);
        if (moved) moved.focus();
      });
    }
  });

  function onStreamState(state, detail) {
    setStreamState(state);
    const status = state === "error" && detail ? detail.status : null;
    if (status === 401) {
      // The token expired or was revoked: sign in again and come back to this board.
      cw.setToken(null);
      cw.requireToken();
    } else if (status === 403) {
      showBoardError("You may not read this pipeline.");
    } else if (status === 404) {
      showBoardError("This pipeline does not exist.");
    } else if (state === "open") {
      showBoardError("");
    }
  }

  function openStream(pipelineId) {
    if (controller) controller.abort();
    controller = new AbortController();
    setStreamState("connecting");
    cw.stream(
      "/pipelines/" + encodeURIComponent(pipelineId) + "/board/stream",
      { onEvent, onState: onStreamState },
      { signal: controller.signal }
    );
  }

  async function start() {
    showWho();
    const response = await cw.api("GET", "/pipelines");
    if (!response.ok) {
      showBoardError(cw.errorText(response));
      return;
    }
    const pipelines = response.body.items;
    const match = location.pathname.match(/^\/ui\/board\/([^/]+)$/);
    let current = null;
    if (match) current = decodeURIComponent(match[1]);
    else if (pipelines.length) current = pipelines[0].id;
    picker.replaceChildren(
      ...pipelines.map((item) => cw.el("option", { value: item.id, selected: item.id === current }, item.name))
    );
    picker.addEventListener("change", () => {
      location.href = "/ui/board/" + encodeURIComponent(picker.value);
    });
    if (!current) {
      showBoardError("There is no pipeline yet.");
      return;
    }
    openStream(current);
  }

  start();
})();
