// Live results for the physician dashboard: the dashboard relays server A's events,
// already decrypted to a verdict. No page reload; abnormal results raise a visible alert.
(function () {
  "use strict";
  var status = document.getElementById("live-status");
  var alerts = document.getElementById("live-alerts");
  if (!status || !alerts || !window.EventSource) { return; }

  var TEXT = { normal: "normal", abnormal: "abnormal", pending: "pending",
               invalid: "invalid reading", none: "no readings yet" };

  function setStatus(state, message) {
    status.dataset.state = state;
    status.textContent = message;
  }

  function badge(verdict) {
    var span = document.createElement("span");
    span.className = "verdict verdict-" + verdict;
    span.textContent = TEXT[verdict] || verdict;
    return span;
  }

  function updatePatientRow(d) {
    var rows = document.querySelectorAll("#patients tr[data-patient-id]");
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].dataset.patientId !== d.patient_id) { continue; }
      var cell = rows[i].querySelector("td[data-label='Latest result']");
      cell.replaceChildren(badge(d.verdict));
      rows[i].querySelector(".taken-at").textContent = d.taken_at;
      if (d.verdict === "abnormal") { rows[i].classList.add("fresh"); }
    }
  }

  function updateHistory(d) {
    var table = document.getElementById("history");
    var latest = document.getElementById("latest");
    if (latest && latest.dataset.patientId === d.patient_id) {
      latest.replaceChildren(badge(d.verdict));
    }
    if (!table || table.dataset.patientId !== d.patient_id) { return; }
    var empty = table.querySelector("tr.empty-row");
    if (empty) { empty.remove(); }
    var row = document.createElement("tr");
    var when = document.createElement("td");
    var what = document.createElement("td");
    when.textContent = d.taken_at;
    what.appendChild(badge(d.verdict));
    row.append(when, what);
    if (d.verdict === "abnormal") { row.className = "fresh"; }
    table.tBodies[0].prepend(row);
  }

  function raiseAlert(d) {
    var box = document.createElement("div");
    box.className = "alert";
    box.setAttribute("role", "alert");
    var text = document.createElement("span");
    var link = document.createElement("a");
    link.href = "/patients/" + encodeURIComponent(d.patient_id);
    link.textContent = d.label;
    var inbox = document.createElement("a");
    inbox.href = "/alerts";
    inbox.textContent = "open the alert inbox";
    text.append("Abnormal reading: ", link, " (taken " + d.taken_at + "); ", inbox);
    var close = document.createElement("button");
    close.type = "button";
    close.textContent = "Hide";
    close.addEventListener("click", function () { box.remove(); });
    box.append(text, close);
    alerts.prepend(box);
  }

  var source = new EventSource("/events");
  setStatus("connecting", "Live updates: connecting…");
  source.addEventListener("status", function (e) {
    var d = JSON.parse(e.data);
    if (d.state === "live") { setStatus("live", "Live updates on: new results appear here."); }
    else if (d.state === "down") { setStatus("down", "Live updates paused: " + d.message + "."); }
    else if (d.state === "expired") {
      source.close();
      setStatus("expired", "Your sign-in has expired; taking you to the sign-in page…");
      window.location.assign("/login");
    }
  });
  function updateAlertCount(d) {
    var count = document.getElementById("alert-count");
    if (!count || typeof d.open_alerts !== "number") { return; }
    count.textContent = String(d.open_alerts);
    count.classList.toggle("count-open", d.open_alerts > 0);
  }

  // Out of the page: a desktop notification naming the patient only, never a value.
  function notifyDesktop(d) {
    if (!window.Notification || Notification.permission !== "granted") { return; }
    new Notification("hrmon: new alert", { body: d.label + " has a new alert", tag: "hrmon-" + d.patient_id });
  }

  var notifyButton = document.getElementById("notify-button");
  if (notifyButton && window.Notification) {
    var showState = function () {
      var on = Notification.permission === "granted";
      notifyButton.textContent = on ? "Desktop notifications are on" : "Turn on desktop notifications";
      notifyButton.disabled = on || Notification.permission === "denied";
    };
    notifyButton.hidden = false;
    showState();
    notifyButton.addEventListener("click", function () {
      Notification.requestPermission().then(showState);
    });
  }

  source.addEventListener("result", function (e) {
    var d = JSON.parse(e.data);
    updatePatientRow(d);
    updateHistory(d);
    updateAlertCount(d);
    if (d.verdict === "abnormal") { raiseAlert(d); notifyDesktop(d); }
  });
  source.addEventListener("error", function () {
    if (source.readyState !== EventSource.CLOSED) {
      setStatus("down", "Live updates: the dashboard is not answering; retrying…");
    }
  });
})();
