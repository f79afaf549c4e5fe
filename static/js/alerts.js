// The new-rule form: the threshold and window placeholders follow the chosen kind,
// so an empty field shows the default the rule will get.
document.addEventListener("DOMContentLoaded", () => {
  const kind = document.querySelector("[data-rule-kind]");
  if (!kind) return;
  const threshold = document.getElementById("rule-threshold");
  const windowMinutes = document.getElementById("rule-window");
  const follow = () => {
    const option = kind.selectedOptions[0];
    threshold.placeholder = option.dataset.threshold;
    windowMinutes.placeholder = option.dataset.window;
  };
  kind.addEventListener("change", follow);
  follow();
});
