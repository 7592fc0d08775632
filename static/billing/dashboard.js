/* The live spend dashboard (billing/templates/billing/dashboard.html): draws the figures the page came with,
   then every set its WebSocket sends (billing/consumers.py), and reconnects by itself when the socket drops. */
(function () {
  "use strict";

  var root = document.querySelector("[data-spend-dashboard]");
  if (!root) return;
  var labels = JSON.parse(document.getElementById("spend-labels").textContent);
  var connection = document.querySelector("[data-connection]");
  var timeZone = root.dataset.timezone;

  var KEEPALIVE_MS = 25000; // proxies close sockets idle for a minute
  var FIRST_DELAY_MS = 500;
  var MAX_DELAY_MS = 30000;
  var LOG_IN_AGAIN = 4401; // the session ended: reloading leads to the login page
  var REFUSED = [4400, 4403, 4404]; // this page may not watch this company: retrying cannot help

  var formatters = {};
  function money(amount, currency) {
    if (!formatters[currency]) {
      formatters[currency] = new Intl.NumberFormat("en-US", {
        style: "currency", currency: currency, minimumFractionDigits: 2, maximumFractionDigits: 4
      });
    }
    return formatters[currency].format(Number(amount));
  }

  function clock(iso) {
    return new Date(iso).toLocaleTimeString("en-GB", { timeZone: timeZone, hour12: false });
  }

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  function row(cells) {
    var tr = document.createElement("tr");
    cells.forEach(function (cell) {
      var td = el("td", cell[1], cell[2]);
      td.dataset.label = cell[0];
      tr.appendChild(td);
    });
    return tr;
  }

  // Sums lines of one breakdown per currency: {currency: {spent, count, free, pending}}.
  function sums(lines) {
    var by = {};
    lines.forEach(function (line) {
      var sum = by[line.currency] || (by[line.currency] = { spent: 0, count: 0, free: 0, pending: 0 });
      sum.spent += Number(line.spent);
      sum.count += line.count;
      sum.free += line.free_count;
      sum.pending += Number(line.pending);
    });
    return by;
  }

  // Sets a node's text, marking it changed for a moment when the text is new (not on the first drawing).
  function put(node, text, drawn) {
    if (node.textContent === text) return;
    node.textContent = text;
    if (drawn) {
      node.classList.remove("changed");
      void node.offsetWidth; // restarts the highlight's animation
      node.classList.add("changed");
    }
  }

  function drawPeriod(name, totals, breakdown, drawn) {
    var by = sums(totals);
    var currencies = Object.keys(by).sort();
    var spent = currencies.map(function (c) { return money(by[c].spent, c); }).join(" + ");
    put(root.querySelector('[data-total="' + name + '"]'), spent || "Nothing charged yet", drawn);
    var count = 0, free = 0, pending = [];
    currencies.forEach(function (c) {
      count += by[c].count;
      free += by[c].free;
      if (by[c].pending) pending.push(money(by[c].pending, c));
    });
    var note = count + (count === 1 ? " message delivered" : " messages delivered") + (free ? ", " + free + " free" : "");
    if (pending.length) note += " · " + pending.join(" + ") + " awaiting delivery";
    put(root.querySelector('[data-count="' + name + '"]'), note, drawn);
    var body = root.querySelector('[data-breakdown="' + name + '"]');
    body.replaceChildren.apply(body, breakdown.map(function (line) {
      var messages = line.count + (line.free_count ? " (" + line.free_count + " free)" : "");
      return row([
        ["Category", labels[line.key] || line.key],
        ["Messages", messages, "number"],
        ["Spent", money(line.spent, line.currency), "number"]
      ]);
    }));
  }

  function drawLastBillable(entries) {
    var body = root.querySelector("[data-last-billable]");
    if (!entries.length) {
      var empty = el("td", "No charged message yet.", "quiet");
      empty.colSpan = 5;
      var tr = document.createElement("tr");
      tr.appendChild(empty);
      body.replaceChildren(tr);
      return;
    }
    body.replaceChildren.apply(body, entries.map(function (entry) {
      var tr = row([
        ["Time", clock(entry.at)],
        ["Recipient", entry.recipient || "—"],
        ["Category", labels[entry.category] || entry.category],
        ["Template", entry.template || "—"],
        ["Amount", money(entry.amount, entry.currency), "number"]
      ]);
      tr.dataset.entry = entry.id;
      return tr;
    }));
  }

  // The month's charged spend against the company's budget; hidden when it has none.
  function drawBudget(budget, drawn) {
    var card = root.querySelector("[data-budget]");
    card.hidden = !budget;
    if (!budget) return;
    var percent = Number(budget.percent);
    put(card.querySelector("[data-budget-text]"), money(budget.spent, budget.currency) + " of " +
      money(budget.amount, budget.currency) + " (" + budget.percent + "%)", drawn);
    card.querySelector("[data-budget-fill]").style.width = Math.min(percent, 100) + "%";
    card.querySelector("[data-budget-mark]").style.left = budget.threshold_percent + "%";
    card.querySelector('[role="meter"]').setAttribute("aria-valuenow", String(Math.min(percent, 100)));
    card.classList.toggle("warn", budget.over_threshold && !budget.over_budget);
    card.classList.toggle("over", budget.over_budget);
  }

  var drawn = false;
  function draw(figures) {
    root.querySelector("[data-today-label]").textContent = figures.today;
    root.querySelector("[data-month-label]").textContent = figures.today.slice(0, 7);
    drawPeriod("today", figures.today_by_category, figures.today_by_category, drawn);
    drawPeriod("month", figures.month_total, figures.month_by_category, drawn);
    drawLastBillable(figures.last_billable);
    drawBudget(figures.budget, drawn);
    drawn = true;
  }

  function show(state, text) {
    connection.dataset.connection = state;
    connection.textContent = text;
  }

  var socket = null, attempts = 0, retryTimer = null, keepalive = null, stopped = false;

  function connect() {
    clearTimeout(retryTimer);
    retryTimer = null;
    if (stopped || socket) return;
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var ws = socket = new WebSocket(scheme + location.host + root.dataset.socket);
    show("connecting", attempts ? "Reconnecting…" : "Connecting…");
    ws.onmessage = function (message) {
      attempts = 0;
      show("live", "Live");
      draw(JSON.parse(message.data));
    };
    ws.onopen = function () {
      keepalive = setInterval(function () { ws.send('{"type":"ping"}'); }, KEEPALIVE_MS);
    };
    ws.onclose = function (event) {
      clearInterval(keepalive);
      socket = null;
      if (event.code === LOG_IN_AGAIN) {
        logInAgain();
      } else if (REFUSED.indexOf(event.code) >= 0) {
        stopped = true;
        show("refused", event.reason || "Not allowed.");
      } else {
        retry();
      }
    };
  }

  // Reloading leads to the login page when the session ended. If the page loads but its socket still finds no
  // session (a proxy that drops cookies on WebSockets), reloading again would loop: once a minute at most.
  function logInAgain() {
    var last = Number(sessionStorage.getItem("spend-dashboard-reloaded") || 0);
    if (Date.now() - last > 60000) {
      sessionStorage.setItem("spend-dashboard-reloaded", String(Date.now()));
      location.reload();
    } else {
      stopped = true;
      show("refused", "Not logged in: reload the page to log in again.");
    }
  }

  // Exponential backoff with jitter, so dashboards that lost the server together do not return together.
  function retry() {
    var delay = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * Math.pow(2, attempts));
    delay = delay / 2 + Math.random() * delay / 2;
    attempts += 1;
    show("offline", "Offline · retrying in " + Math.ceil(delay / 1000) + " s");
    retryTimer = setTimeout(connect, delay);
  }

  // Back on the network, or back on the tab: try now rather than at the end of the backoff.
  window.addEventListener("online", function () { if (!socket) connect(); });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible" && !socket) connect();
  });

  draw(JSON.parse(document.getElementById("spend-figures").textContent));
  connect();
})();
