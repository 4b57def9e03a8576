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
