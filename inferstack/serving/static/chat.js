// The chat page: streams answers from /v1/chat/completions, keeps the conversation under a
// session id (the gateway's sessions and memory hold the history), shows sources, the route and
// what the guard did (finding types only), and sends thumbs up/down to the feedback endpoint.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const log = $("log");
  const prompt = $("prompt");
  const SESSION = "inferstack.session";
  let sessionId = localStorage.getItem(SESSION) || newSessionId();
  // The turns so far, sent whole only when the gateway keeps no sessions (memory is null).
  let history = [];
  let stateless = false;
  let controller = null;

  function newSessionId() {
    const bytes = crypto.getRandomValues(new Uint8Array(12));
    const id = `web-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
    localStorage.setItem(SESSION, id);
    return id;
  }

  function bubble(role) {
    const box = el("article", undefined, `msg ${role}`);
    box.append(el("div", role === "user" ? "You" : "Assistant", "role"), el("div", undefined, "body"));
    log.append(box);
    box.scrollIntoView({ block: "end" });
    return box;
  }

  function userBubble(text) {
    const body = bubble("user").querySelector(".body");
    body.textContent = text;
    body.style.whiteSpace = "pre-wrap";
  }

  function busy(on) {
    $("send").disabled = on;
    $("stop").hidden = !on;
  }

  function usd(value) {
    return value == null ? "" : `$${Number(value).toFixed(value < 0.01 ? 6 : 4)}`;
  }

  function guardNotice(guard) {
    const parts = [];
    for (const [side, where] of [["input", "your message"], ["output", "the answer"]]) {
      const findings = guard && guard[side] && guard[side].findings;
      if (!findings || !Object.keys(findings).length) continue;
      const actions = guard[side].actions || {};
      const kinds = Object.keys(findings).map((kind) => `${kind}${actions[kind] ? ` (${actions[kind]})` : ""}`);
      parts.push(`The guard acted on ${where}: ${kinds.join(", ")}.`);
    }
    return parts.join(" ");
  }

  function renderMeta(box, meta) {
    const notice = guardNotice(meta.guard);
    if (notice) box.append(el("div", notice, "notice guard-notice"));
    const screened = meta.retrieval && meta.retrieval.screened_out;
    if (screened) box.append(el("div", `${screened} retrieved passage(s) were dropped by the injection screen.`, "notice"));
    if (meta.sources && meta.sources.length) {
      const list = el("ol", undefined, "sources");
      list.setAttribute("aria-label", "Sources");
      for (const source of meta.sources) {
        const item = el("li", source.title || source.document_id);
        item.value = source.index;
        list.append(item);
      }
      box.append(list);
    }
    const row = el("div", undefined, "meta");
    const route = meta.route;
    if (route) {
      const cost = route.actual_cost_usd != null ? route.actual_cost_usd : route.estimated_cost_usd;
      const badge = el("span", `${route.served_by || route.deployment} · ${route.reason} · ${usd(cost)}`, "badge route");
      badge.title = "deployment that answered · why the router chose it · cost";
      row.append(badge);
      if (route.cache === "hit") row.append(el("span", "cached", "badge"));
    }
    if (meta.memory && meta.memory.turn_id) row.append(feedback(meta.memory.turn_id));
    box.append(row);
  }

  function feedback(turnId) {
    const group = el("span", undefined, "feedback");
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", "Rate this answer");
    const session = sessionId;
    // Words, not emoji: a machine without an emoji font would show empty boxes.
    for (const [rating, label, face] of [[1, "Good answer", "▲ Good"], [-1, "Bad answer", "▼ Bad"]]) {
      const button = el("button", face);
      button.type = "button";
      button.setAttribute("aria-label", label);
      button.setAttribute("aria-pressed", "false");
      button.addEventListener("click", async () => {
        const response = await Api.call(`/v1/sessions/${encodeURIComponent(session)}/feedback`, {
          method: "POST", headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ turn_id: turnId, rating }),
        });
        if (response.ok) {
          for (const other of group.querySelectorAll("button")) other.setAttribute("aria-pressed", "false");
          button.setAttribute("aria-pressed", "true");
        }
      });
      group.append(button);
    }
    return group;
  }

  // SSE events of one answer: calls `onChunk` with each parsed chunk; an in-band error throws.
  async function readStream(response, onChunk) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        for (const line of event.split("\n")) {
          if (!line.startsWith("data: ") || line === "data: [DONE]") continue;
          const chunk = JSON.parse(line.slice(6));
          if (chunk.error) throw new Error(chunk.error.message || "the stream failed");
          onChunk(chunk);
        }
      }
    }
  }

  function requestBody(text) {
    const messages = stateless ? [...history, { role: "user", content: text }] : [{ role: "user", content: text }];
    const body = {
      model: $("model").value, messages, stream: true, stream_options: { include_usage: true },
      inferstack: { session_id: sessionId },
    };
    if ($("collection").value) body.inferstack.collection = $("collection").value;
    const maxTokens = parseInt($("max-tokens").value, 10);
    if (maxTokens > 0) body.max_tokens = maxTokens;
    return body;
  }

  async function answer(text) {
    const box = bubble("assistant");
    const body = box.querySelector(".body");
    body.textContent = "Waiting for the first token…";
    body.classList.add("pending");
    box.setAttribute("aria-busy", "true");
    busy(true);
    controller = new AbortController();
    let content = "";
    let meta = null;
    let failure = null;
    let stopped = false;
    let frame = 0;
    const paint = () => {
      frame = 0;
      body.classList.remove("pending");
      Markdown.render(content, body);
    };
    try {
      const response = await Api.call("/v1/chat/completions", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify(requestBody(text)), signal: controller.signal,
      });
      if (!response.ok) throw new Error(await Api.errorText(response));
      await readStream(response, (chunk) => {
        const delta = chunk.choices && chunk.choices[0] && chunk.choices[0].delta;
        if (delta && delta.content) {
          content += delta.content;
          if (!frame) frame = requestAnimationFrame(paint);
        }
        if (chunk.inferstack) meta = chunk.inferstack;
      });
    } catch (error) {
      if (error.name === "AbortError") stopped = true;
      else failure = error.message;
    } finally {
      controller = null;
      if (frame) cancelAnimationFrame(frame);
      box.removeAttribute("aria-busy");
      busy(false);
    }
    paint();
    if (!content && !failure) body.textContent = stopped ? "" : "(no text)";
    if (stopped) box.append(el("div", "Stopped.", "notice stopped"));
    if (failure) {
      const bar = el("div", undefined, "error");
      bar.setAttribute("role", "alert");
      bar.append(el("span", failure));
      const retry = el("button", "Retry");
      retry.type = "button";
      retry.addEventListener("click", () => {
        box.remove();
        answer(text);
      });
      bar.append(retry);
      box.append(bar);
    }
    if (meta) {
      renderMeta(box, meta);
      stateless = !meta.memory;
    }
    if (!failure && !stopped) history.push({ role: "user", content: text }, { role: "assistant", content });
    box.scrollIntoView({ block: "end" });
  }

  async function loadHistory() {
    const response = await Api.call(`/v1/sessions/${encodeURIComponent(sessionId)}/messages`);
    if (!response.ok) return; // a new session (404), or a gateway without sessions
    for (const message of (await response.json()).data) {
      if (message.role === "user") userBubble(message.content);
      else if (message.role === "assistant") Markdown.render(message.content, bubble("assistant").querySelector(".body"));
      history.push({ role: message.role, content: message.content });
    }
  }

  async function loadPickers() {
    try {
      const models = await Api.json("/v1/models");
      for (const model of models.data) {
        if (model.id === "auto" || (model.endpoint || "chat") !== "chat") continue;
        $("model").append(new Option(model.id, model.id));
      }
    } catch {
      /* the picker keeps `auto` */
    }
    try {
      const collections = await Api.json("/v1/collections");
      for (const collection of collections.data) {
        $("collection").append(new Option(`${collection.name} (${collection.chunks})`, collection.name));
      }
    } catch {
      $("collection-field").hidden = true; // retrieval is off
    }
  }

  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = prompt.value.trim();
    if (!text || controller) return;
    prompt.value = "";
    userBubble(text);
    answer(text);
  });
  prompt.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("composer").requestSubmit();
    }
  });
  $("stop").addEventListener("click", () => controller && controller.abort());
  $("new-chat").addEventListener("click", () => {
    if (controller) controller.abort();
    sessionId = newSessionId();
    history = [];
    log.replaceChildren();
    prompt.focus();
  });

  (async () => {
    await loadPickers();
    await loadHistory();
    document.body.dataset.ready = "true";
    prompt.focus();
  })();
})();
