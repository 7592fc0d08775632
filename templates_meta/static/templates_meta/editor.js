/* Template components editor: a JSON check as you type, helper buttons, and a live preview of the
 * message as WhatsApp shows it, with each {{n}} / {{name}} replaced by its example value.
 * No dependencies; the server checks Meta's rules again on save (templates_meta/rules.py). */
(function () {
  "use strict";

  var VARIABLE = /\{\{\s*([^{}]*?)\s*\}\}/g;
  var ORDER = { HEADER: 0, BODY: 1, FOOTER: 2, BUTTONS: 3 };
  var LIMITS = { HEADER: 60, BODY: 1024, FOOTER: 60 };
  var MEDIA = { IMAGE: "🖼 Image", VIDEO: "▶ Video", DOCUMENT: "📄 Document", LOCATION: "📍 Location" };
  var ICONS = { QUICK_REPLY: "↩", URL: "↗", PHONE_NUMBER: "📞", COPY_CODE: "📋", OTP: "📋" };

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function typeOf(component) {
    return String((component && component.type) || "").toUpperCase();
  }

  function find(components, type) {
    for (var i = 0; i < components.length; i++) {
      if (typeOf(components[i]) === type) return components[i];
    }
    return null;
  }

  function variables(text) {
    var names = [];
    String(text || "").replace(VARIABLE, function (_, name) {
      if (names.indexOf(name) < 0) names.push(name);
      return "";
    });
    return names;
  }

  /* The example values of a header or body: {values: [...positional], named: {name: value}}. */
  function examples(component, positionalKey, namedKey) {
    var example = (component && component.example) || {};
    var values = example[positionalKey] || [];
    if (Array.isArray(values[0])) values = values[0];
    var named = {};
    (example[namedKey] || []).forEach(function (param) {
      if (param && param.param_name) named[param.param_name] = param.example;
    });
    return { values: Array.isArray(values) ? values : [], named: named };
  }

  function valueFor(name, sample) {
    var value = /^\d+$/.test(name) ? sample.values[Number(name) - 1] : sample.named[name];
    return value === undefined || value === null || String(value).trim() === "" ? null : String(value);
  }

  /* WhatsApp's formatting (*bold*, _italic_, ~strike~, ```mono```) on escaped text. */
  function format(html) {
    return html
      .replace(/```([\s\S]+?)```/g, "<code>$1</code>")
      .replace(/\*([^*\n]+)\*/g, "<strong>$1</strong>")
      .replace(/(^|[^\w])_([^_\n]+)_(?!\w)/g, "$1<em>$2</em>")
      .replace(/~([^~\n]+)~/g, "<s>$1</s>")
      .replace(/\n/g, "<br>");
  }

  /* Fills target with text, variables replaced by their example (or shown in red when missing). */
  function renderText(target, text, sample) {
    var names = [];
    var marked = String(text || "").replace(VARIABLE, function (_, name) {
      names.push(name);
      return "\u0000" + (names.length - 1) + "\u0000";
    });
    var missing = 0;
    target.innerHTML = format(escapeHtml(marked)).replace(/\u0000(\d+)\u0000/g, function (_, index) {
      var name = names[Number(index)];
      var value = valueFor(name, sample);
      if (value === null) {
        missing += 1;
        return '<span class="tm-var tm-missing" title="No example value for this variable">{{' + escapeHtml(name) + "}}</span>";
      }
      return '<span class="tm-var" title="{{' + escapeHtml(name) + '}}">' + escapeHtml(value) + "</span>";
    });
    return missing;
  }

  function renderButtons(target, buttons) {
    target.innerHTML = "";
    if (!Array.isArray(buttons) || !buttons.length) return;
    // WhatsApp shows up to 3 buttons; with more, the first 2 and "See all options".
    var shown = buttons.length > 3 ? buttons.slice(0, 2) : buttons;
    shown.forEach(function (button) {
      var kind = String((button && button.type) || "").toUpperCase();
      var label = (button && button.text) || (kind === "COPY_CODE" ? "Copy offer code" : kind.toLowerCase());
      var row = document.createElement("div");
      row.className = "tm-button";
      row.textContent = (ICONS[kind] || "•") + " " + label;
      target.appendChild(row);
    });
    if (buttons.length > 3) {
      var all = document.createElement("div");
      all.className = "tm-button";
      all.textContent = "☰ See all options";
      target.appendChild(all);
    }
  }

  function positionOf(error, text) {
    var match = /position (\d+)/.exec(error.message);
    var lines = /line (\d+) column (\d+)/.exec(error.message);
    if (lines) return " (line " + lines[1] + ", column " + lines[2] + ")";
    if (!match) return "";
    var before = text.slice(0, Number(match[1])).split("\n");
    return " (line " + before.length + ", column " + (before[before.length - 1].length + 1) + ")";
  }

  function parse(text) {
    if (!text.trim()) return { components: [] };
    try {
      var value = JSON.parse(text);
      if (!Array.isArray(value)) return { problem: "The components must be a list: start with [ and end with ]." };
      return { components: value };
    } catch (error) {
      return { problem: "Not valid JSON: " + error.message.split(" in JSON")[0] + positionOf(error, text) + "." };
    }
  }

  function setStatus(editor, kind, text) {
    var status = editor.querySelector("[data-tm-status]");
    status.className = "tm-status tm-" + kind;
    status.textContent = text;
  }

  function update(editor) {
    var textarea = editor.querySelector("[data-tm-json]");
    var parsed = parse(textarea.value);
    if (parsed.problem) {
      setStatus(editor, "bad", "✗ " + parsed.problem + " The preview shows the last valid version.");
      return;
    }
    var components = parsed.components;
    var header = find(components, "HEADER");
    var body = find(components, "BODY");
    var footer = find(components, "FOOTER");
    var buttons = find(components, "BUTTONS");
    var headerBox = editor.querySelector("[data-tm-header]");
    var bodyBox = editor.querySelector("[data-tm-body]");
    var footerBox = editor.querySelector("[data-tm-footer]");
    var missing = 0;
    var notes = [];

    headerBox.hidden = !header;
    headerBox.className = "tm-header";
    if (header) {
      var headerFormat = String(header.format || "TEXT").toUpperCase();
      if (MEDIA[headerFormat]) {
        headerBox.className = "tm-header tm-media";
        headerBox.textContent = MEDIA[headerFormat];
      } else {
        missing += renderText(headerBox, header.text, examples(header, "header_text", "header_text_named_params"));
      }
    }
    if (body && String(body.text || "").trim()) {
      missing += renderText(bodyBox, body.text, examples(body, "body_text", "body_text_named_params"));
    } else {
      bodyBox.innerHTML = '<span class="tm-placeholder">Write the BODY text to see the message here.</span>';
      notes.push("the BODY is required");
    }
    footerBox.hidden = !footer;
    if (footer) footerBox.textContent = String(footer.text || "");
    renderButtons(editor.querySelector("[data-tm-buttons]"), buttons && buttons.buttons);

    [["HEADER", header], ["BODY", body], ["FOOTER", footer]].forEach(function (pair) {
      var text = pair[1] && pair[1].text;
      if (text && String(text).length > LIMITS[pair[0]]) {
        notes.push(pair[0].toLowerCase() + " has " + String(text).length + " characters (limit " + LIMITS[pair[0]] + ")");
      }
    });
    if (missing) notes.push(missing + " variable(s) without an example value (in red)");
    var size = body && body.text ? String(body.text).length : 0;
    if (notes.length) {
      setStatus(editor, "warn", "⚠ Valid JSON, but " + notes.join("; ") + ".");
    } else {
      setStatus(editor, "ok", "✓ Valid JSON · body " + size + "/" + LIMITS.BODY + " characters. Meta's rules are checked on save.");
    }
  }

  /* Adds an example for every variable of a header or body that has none. */
  function fillExamples(component, positionalKey, namedKey, nested) {
    if (!component || typeof component.text !== "string") return;
    var names = variables(component.text);
    if (!names.length) return;
    component.example = component.example || {};
    if (names.every(function (n) { return /^\d+$/.test(n); })) {
      var values = component.example[positionalKey] || [];
      if (nested) values = Array.isArray(values[0]) ? values[0] : [];
      var count = Math.max.apply(null, names.map(Number));
      for (var i = 0; i < count; i++) {
        if (values[i] === undefined || String(values[i]).trim() === "") values[i] = "example " + (i + 1);
      }
      component.example[positionalKey] = nested ? [values] : values;
    } else {
      var params = component.example[namedKey] || [];
      names.forEach(function (name) {
        var has = params.some(function (p) { return p && p.param_name === name; });
        if (!has) params.push({ param_name: name, example: "example " + name });
      });
      component.example[namedKey] = params;
    }
  }

  function addButton(components, button) {
    var group = find(components, "BUTTONS");
    if (!group) {
      group = { type: "BUTTONS", buttons: [] };
      components.push(group);
    }
    group.buttons = Array.isArray(group.buttons) ? group.buttons : [];
    var lastQuick = -1;
    group.buttons.forEach(function (b, i) { if (String(b.type).toUpperCase() === "QUICK_REPLY") lastQuick = i; });
    // Meta wants quick replies next to each other: a new one goes after the last.
    if (button.type === "QUICK_REPLY" && lastQuick >= 0) group.buttons.splice(lastQuick + 1, 0, button);
    else group.buttons.push(button);
  }

  var ACTIONS = {
    tidy: function () {},
    header: function (c) {
      if (!find(c, "HEADER")) c.push({ type: "HEADER", format: "TEXT", text: "Fatura disponível" });
    },
    footer: function (c) {
      if (!find(c, "FOOTER")) c.push({ type: "FOOTER", text: "Equipe de atendimento" });
    },
    quick_reply: function (c) { addButton(c, { type: "QUICK_REPLY", text: "Sim" }); },
    url: function (c) { addButton(c, { type: "URL", text: "Ver fatura", url: "https://www.example.com/" }); },
    phone: function (c) { addButton(c, { type: "PHONE_NUMBER", text: "Ligar", phone_number: "5511999990000" }); },
    examples: function (c) {
      fillExamples(find(c, "HEADER"), "header_text", "header_text_named_params", false);
      fillExamples(find(c, "BODY"), "body_text", "body_text_named_params", true);
    },
  };

  function act(editor, name) {
    var textarea = editor.querySelector("[data-tm-json]");
    var parsed = parse(textarea.value);
    if (parsed.problem) {
      setStatus(editor, "bad", "✗ Fix the JSON first: " + parsed.problem);
      return;
    }
    var components = parsed.components;
    if (name !== "tidy" && !find(components, "BODY")) {
      components.push({ type: "BODY", text: "Olá {{1}}, tudo bem?", example: { body_text: [["Maria"]] } });
    }
    ACTIONS[name](components);
    components.sort(function (a, b) { return (ORDER[typeOf(a)] || 0) - (ORDER[typeOf(b)] || 0); });
    textarea.value = JSON.stringify(components, null, 2);
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function init(editor) {
    var textarea = editor.querySelector("[data-tm-json]");
    if (!textarea || editor.dataset.tmReady) return;
    editor.dataset.tmReady = "1";
    textarea.addEventListener("input", function () { update(editor); });
    editor.querySelectorAll("[data-tm-action]").forEach(function (button) {
      if (textarea.disabled || textarea.readOnly) button.disabled = true;
      button.addEventListener("click", function () { act(editor, button.dataset.tmAction); });
    });
    update(editor);
  }

  function start() {
    document.querySelectorAll("[data-tm-editor]").forEach(init);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
