// Progressive enhancement only: every page works without this file.
"use strict";
document.documentElement.classList.add("js");

document.addEventListener("DOMContentLoaded", () => {
  // Copy buttons beside credentials (shown only when the clipboard API is there).
  document.querySelectorAll("button[data-copy]").forEach((button) => {
    const source = document.getElementById(button.dataset.copy);
    if (!source || !navigator.clipboard) return;
    button.hidden = false;
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(source.textContent.trim());
        button.textContent = "Copied";
        button.classList.add("copied");
        setTimeout(() => { button.textContent = "Copy"; button.classList.remove("copied"); }, 2000);
      } catch (_) {
        button.textContent = "Select and copy";
      }
    });
  });

  // The custom date, and the 3-month recommendation (absent when the account's policy is
  // shorter), live as the expiry is chosen.
  const choice = document.getElementById("expires_in");
  const date = document.getElementById("expires_on");
  const warning = document.getElementById("expiry-warning");
  if (choice && date) {
    const limitDays = Number(choice.dataset.recommendedDays || 90);
    const update = () => {
      const custom = choice.value === "custom";
      date.closest(".custom-date").classList.toggle("is-hidden", !custom);
      let days = 0;
      if (custom && date.value) {
        const today = new Date(new Date().toISOString().slice(0, 10) + "T00:00:00Z");
        days = Math.round((new Date(date.value + "T00:00:00Z") - today) / 86400000);
      } else if (!custom) {
        days = parseInt(choice.value, 10) || 0;
      }
      if (warning) warning.classList.toggle("is-hidden", days <= limitDays);
    };
    choice.addEventListener("change", update);
    date.addEventListener("input", update);
    update();
  }
});
