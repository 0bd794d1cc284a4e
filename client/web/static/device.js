// Device page: show that analysis is running, and follow a streamed recording's progress.
(function () {
  "use strict";
  var forms = document.querySelectorAll("form[enctype='multipart/form-data']");
  forms.forEach(function (form) {
    form.addEventListener("submit", function () {
      var busy = form.querySelector(".busy");
      if (busy) { busy.hidden = false; }
      form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
    });
  });

  var stream = document.getElementById("stream");
  if (!stream || stream.dataset.finished === "yes") { return; }
  var progress = document.getElementById("stream-progress");
  var summary = document.getElementById("stream-summary");
  var error = document.getElementById("stream-error");
  var body = document.querySelector("#windows tbody");

  function cell(tag, label, text) {
    var el = document.createElement(tag);
    el.dataset.label = label;
    el.textContent = text;
    if (tag === "th") { el.scope = "row"; }
    return el;
  }

  function render(s) {
    progress.max = Math.max(s.total, 1);
    progress.value = s.done;
    progress.textContent = s.done + " of " + s.total;
    var kept = s.kept ? ", " + s.kept + " kept on this device" : "";
    summary.textContent = (s.finished
      ? "Finished: " + s.sent + " of " + s.total + " windows sent"
      : "Working: " + s.done + " of " + (s.total || "?") + " windows analysed, " + s.sent + " sent") + kept;
    if (s.error) { error.textContent = s.error; error.hidden = false; }
    var rows = s.rows.map(function (r) {
      var tr = document.createElement("tr");
      var sent = r.note + (r.sent || r.kept ? ": E(hr) " + r.heart_rate_ciphertext + ", E(score) " + r.score_ciphertext : "");
      tr.append(
        cell("th", "Window", r.index + " (" + Math.round(r.start_s) + "–" + Math.round(r.end_s) + " s)"),
        cell("td", "Heart rate", r.bpm === null ? "-" : r.bpm.toFixed(1) + " bpm"),
        cell("td", "Score", r.score === null ? "-" : r.score.toFixed(3)),
        cell("td", "Sent to server A", sent));
      return tr;
    });
    body.replaceChildren.apply(body, rows);
    stream.dataset.finished = s.finished ? "yes" : "no";
  }

  function poll() {
    fetch(stream.dataset.stateUrl, { headers: { "Accept": "application/json" } })
      .then(function (r) {
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.json();
      })
      .then(function (s) {
        render(s);
        if (!s.finished) { window.setTimeout(poll, 500); }
      })
      .catch(function (e) {
        error.textContent = "Lost contact with this device's page (" + e.message + "); reload to retry.";
        error.hidden = false;
      });
  }
  poll();
})();
