// Live notifications on "My page": committed events that concern the signed-in party, from the
// API's Server-Sent Events stream. No framework; labels come translated from the page.
(function () {
  var box = document.getElementById("live");
  if (!box || !window.EventSource) return;
  var labels = JSON.parse(box.getAttribute("data-labels") || "{}");
  var list = box.querySelector("ul");
  var url = "/api/v1/events?party=" + encodeURIComponent(box.getAttribute("data-party")) +
            "&after=" + encodeURIComponent(box.getAttribute("data-after"));
  var source = new EventSource(url);
  function show(ev) {
    var row;
    try { row = JSON.parse(ev.data); } catch (e) { return; }
    if (row.kind === "credit.changed") return;
    var li = document.createElement("li");
    li.textContent = (labels[row.kind] || row.kind) + " · " + String(row.time || "").replace("T", " ").slice(0, 16);
    list.insertBefore(li, list.firstChild);
    box.hidden = false;
  }
  Object.keys(labels).forEach(function (kind) { source.addEventListener(kind, show); });
})();
