// Closing the + NEW drawer and dialogs: click on the backdrop or a close button, or press Escape.
document.addEventListener("click", (event) => {
  if (event.target.closest("[data-close-drawer]")) document.getElementById("drawer").innerHTML = "";
  if (event.target.closest("[data-close-modal]")) document.getElementById("modal").innerHTML = "";
});
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  document.getElementById("drawer").innerHTML = "";
  document.getElementById("modal").innerHTML = "";
});

// Progress bars carry their percentage in data-progress: the Content-Security-Policy forbids style="" in markup,
// but a script of our own may set the width.
function applyProgress(root) {
  const bars = [...root.querySelectorAll("[data-progress]")];
  if (root.matches && root.matches("[data-progress]")) bars.push(root);
  bars.forEach((bar) => { bar.style.width = `${Number(bar.dataset.progress) || 0}%`; });
}
document.addEventListener("DOMContentLoaded", () => applyProgress(document));
document.addEventListener("htmx:load", (event) => applyProgress(event.target));

// <time datetime="ISO" data-local-time> (the |when filter): the moment in the browser's zone with its offset, one
// format everywhere: "12/1/2026 4:10:39 PM UTC+01:00".
function localTime(moment) {
  const pad = (n) => String(n).padStart(2, "0");
  const hour = moment.getHours() % 12 || 12;
  const offset = -moment.getTimezoneOffset();
  const sign = offset >= 0 ? "+" : "-";
  const zone = `UTC${sign}${pad(Math.floor(Math.abs(offset) / 60))}:${pad(Math.abs(offset) % 60)}`;
  return `${moment.getMonth() + 1}/${moment.getDate()}/${moment.getFullYear()} ${hour}:${pad(moment.getMinutes())}:`
    + `${pad(moment.getSeconds())} ${moment.getHours() < 12 ? "AM" : "PM"} ${zone}`;
}
function applyLocalTimes(root) {
  const zoneName = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  const times = [...root.querySelectorAll("time[data-local-time]")];
  if (root.matches && root.matches("time[data-local-time]")) times.push(root);
  times.forEach((element) => {
    const moment = new Date(element.getAttribute("datetime"));
    if (Number.isNaN(moment.getTime())) return;
    element.textContent = localTime(moment);
    element.title = zoneName;
    element.dataset.localTime = "shown";
  });
}
document.addEventListener("DOMContentLoaded", () => applyLocalTimes(document));
document.addEventListener("htmx:load", (event) => applyLocalTimes(event.target));

// A polled row whose item was deleted (a vault after Delete vault) answers 404: the row leaves the list, which
// also ends its polling.
document.addEventListener("htmx:responseError", (event) => {
  const element = event.detail.elt;
  if (event.detail.xhr.status === 404 && element && element.matches("[data-gone-on-404]")) element.remove();
});
