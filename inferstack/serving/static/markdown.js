// A small Markdown renderer that builds DOM nodes and sets only textContent: no HTML string from
// a model answer or a retrieved document is ever parsed, so `<script>` or `onerror=` shows as
// text (through api.js's `el`). Covers what chat answers use: paragraphs, headings, lists, fenced code, quotes, inline
// code, bold, italics, http(s) links and citation marks like [1].
"use strict";

const Markdown = (() => {
  const INLINE = /(`[^`\n]+`)|(\*\*[^*\n]+\*\*)|(\*[^*\s][^*\n]*\*|(?<!\w)_[^_\s][^_\n]*_(?!\w))|(\[[^\]\n]+\]\(\s*https?:\/\/[^\s)]+\s*\))|(\[\d{1,2}\])/g;

  function inline(parent, text) {
    let last = 0;
    for (const m of text.matchAll(INLINE)) {
      if (m.index > last) parent.append(document.createTextNode(text.slice(last, m.index)));
      const token = m[0];
      if (m[1]) parent.append(el("code", token.slice(1, -1)));
      else if (m[2]) inline(parent.appendChild(el("strong")), token.slice(2, -2));
      else if (m[3]) inline(parent.appendChild(el("em")), token.slice(1, -1));
      else if (m[4]) {
        const cut = token.indexOf("](");
        const link = el("a", token.slice(1, cut));
        const href = token.slice(cut + 2, -1).trim();
        // Only absolute http(s) URLs become links (no javascript:, data: or relative ones).
        if (/^https?:\/\//i.test(href)) {
          link.href = href;
          link.rel = "noopener noreferrer nofollow";
          link.target = "_blank";
        }
        parent.append(link);
      } else {
        const mark = el("sup", token);
        mark.className = "cite";
        parent.append(mark);
      }
      last = m.index + token.length;
    }
    if (last < text.length) parent.append(document.createTextNode(text.slice(last)));
  }

  function render(text, container) {
    const out = document.createDocumentFragment();
    const lines = String(text).replace(/\r\n?/g, "\n").split("\n");
    let i = 0;
    while (i < lines.length) {
      const line = lines[i];
      const fence = line.match(/^\s*(```|~~~)\s*([\w+-]*)\s*$/);
      if (fence) {
        const code = [];
        i += 1;
        while (i < lines.length && !lines[i].trim().startsWith(fence[1])) code.push(lines[i++]);
        i += 1; // the closing fence (or the end of a stream still in progress)
        const pre = el("pre");
        const node = el("code", code.join("\n"));
        if (fence[2]) node.dataset.lang = fence[2];
        pre.append(node);
        out.append(pre);
        continue;
      }
      const heading = line.match(/^(#{1,4})\s+(.*)$/);
      if (heading) {
        const h = el(`h${Math.min(heading[1].length + 2, 6)}`);
        inline(h, heading[2]);
        out.append(h);
        i += 1;
        continue;
      }
      const item = /^\s*(?:[-*+]|\d{1,3}[.)])\s+/;
      if (item.test(line)) {
        const list = el(/^\s*\d/.test(line) ? "ol" : "ul");
        while (i < lines.length && item.test(lines[i])) {
          inline(list.appendChild(el("li")), lines[i].replace(item, ""));
          i += 1;
        }
        out.append(list);
        continue;
      }
      if (/^\s*>/.test(line)) {
        const quote = el("blockquote");
        const body = [];
        while (i < lines.length && /^\s*>/.test(lines[i])) body.push(lines[i++].replace(/^\s*>\s?/, ""));
        inline(quote, body.join("\n"));
        out.append(quote);
        continue;
      }
      if (!line.trim()) {
        i += 1;
        continue;
      }
      const para = [];
      while (i < lines.length && lines[i].trim() && !item.test(lines[i]) && !/^\s*(```|~~~|#{1,4}\s|>)/.test(lines[i])) {
        para.push(lines[i++]);
      }
      const p = el("p");
      para.forEach((part, k) => {
        if (k) p.append(el("br"));
        inline(p, part);
      });
      out.append(p);
    }
    container.replaceChildren(out);
  }

  return { render };
})();
