// The plugin's page: it only talks FSI to ./include/index.php, a relative URL,
// so that it keeps working when a NAS web server forwards a sub-path such as
// /apps/qbittorrent/ to the plugin. The token travels in the JSON body and is
// kept in sessionStorage (no cookies, so no cross-site request can use it).
"use strict";

(function () {
  const ENDPOINT = "./include/index.php";
  const REQUEST_TIMEOUT_MS = 30000;
  const POLL_MS = 3000;
  const BUSY_POLL_MS = 1000;
  const ERR = { OK: 0, TIMEOUT: 9998, NOT_LOGGED_IN: 9984, AUTHORIZE: 9988 };
  const DOWN_STATES = ["stopped", "exited", "fatal"];

  const TEXT = {
    "en": {
      title: "qBittorrent", language: "Language", login_title: "Log in to the plugin",
      username: "Username", password: "Password", login: "Log in", logout: "Log out",
      status: "Status", state: "State", pid: "Process ID", port: "Port", uptime: "Uptime",
      control: "Control", port_label: "Web UI port",
      port_hint: "Start and Restart use this port (1 to 65535).",
      port_invalid: "Enter a whole number from 1 to 65535.",
      start: "Start", stop: "Stop", restart: "Restart",
      busy_start: "Starting qBittorrent…", busy_restart: "Restarting qBittorrent…",
      busy_stop: "Stopping qBittorrent… this can take minutes while it saves its resume data.",
      webui_title: "qBittorrent Web UI", webui_open: "Open qBittorrent Web UI",
      webui_off: "Start qBittorrent to open its Web UI.", webui_login_with: "Log in there with:",
      webui_pending: "These credentials take effect at the next start or restart.",
      webui_change: "Change these credentials", webui_new_username: "New Web UI username",
      webui_new_password: "New Web UI password", save: "Save",
      show: "Show", hide: "Hide", log_title: "qBittorrent log", refresh: "Refresh",
      network_error: "The plugin did not answer; check the connection and try again.",
      session_over: "Your session ended; please log in again.",
      versions: "plugin {plugin} · qBittorrent {qbittorrent} · supervisor {supervisor}",
      state_running: "running", state_starting: "starting", state_stopping: "stopping",
      state_stopped: "stopped", state_backoff: "retrying", state_exited: "exited",
      state_fatal: "failed", state_unknown: "unknown",
      uptime_units: ["d", "h", "min", "s"],
      health: "Web UI check", health_ok: "answers", health_unknown: "not checked yet",
      health_unresponsive: "no answer ({count} failed checks in a row)",
      watchdog: "Watchdog restarts", watchdog_last: "{count}, last on {time}: {reason}",
    },
    "zh-CN": {
      title: "qBittorrent", language: "语言", login_title: "登录插件",
      username: "用户名", password: "密码", login: "登录", logout: "退出登录",
      status: "状态", state: "运行状态", pid: "进程号", port: "端口", uptime: "运行时长",
      control: "控制", port_label: "Web UI 端口",
      port_hint: "启动和重启使用此端口（1 到 65535）。",
      port_invalid: "请输入 1 到 65535 之间的整数。",
      start: "启动", stop: "停止", restart: "重启",
      busy_start: "正在启动 qBittorrent…", busy_restart: "正在重启 qBittorrent…",
      busy_stop: "正在停止 qBittorrent…保存续传数据可能需要几分钟。",
      webui_title: "qBittorrent Web UI", webui_open: "打开 qBittorrent Web UI",
      webui_off: "启动 qBittorrent 后即可打开其 Web UI。", webui_login_with: "在那里使用以下凭据登录：",
      webui_pending: "这些凭据将在下次启动或重启时生效。",
      webui_change: "修改这些凭据", webui_new_username: "新的 Web UI 用户名",
      webui_new_password: "新的 Web UI 密码", save: "保存",
      show: "显示", hide: "隐藏", log_title: "qBittorrent 日志", refresh: "刷新",
      network_error: "插件没有响应，请检查连接后重试。",
      session_over: "会话已结束，请重新登录。",
      versions: "插件 {plugin} · qBittorrent {qbittorrent} · supervisor {supervisor}",
      state_running: "运行中", state_starting: "启动中", state_stopping: "停止中",
      state_stopped: "已停止", state_backoff: "重试中", state_exited: "已退出",
      state_fatal: "启动失败", state_unknown: "未知",
      uptime_units: ["天", "小时", "分", "秒"],
      health: "Web UI 检查", health_ok: "有响应", health_unknown: "尚未检查",
      health_unresponsive: "无响应（连续 {count} 次检查失败）",
      watchdog: "看门狗重启", watchdog_last: "{count} 次，最近一次于 {time}：{reason}",
    },
  };

  const $ = (id) => document.getElementById(id);
  let lang = TEXT[localStorage.getItem("fsi-lang")] ? localStorage.getItem("fsi-lang")
    : (TEXT[document.documentElement.lang] ? document.documentElement.lang : "en");
  let token = sessionStorage.getItem("fsi-token");
  let status = null;       // last status results
  let busy = null;         // "start" | "stop" | "restart" while an action runs
  let waitFor = null;      // states that end a wait after a 9998 answer
  let pollTimer = null;
  let portEdited = false;

  function t(key, values) {
    let text = TEXT[lang][key] || TEXT.en[key] || key;
    for (const name in values || {}) text = text.replace("{" + name + "}", values[name] ?? "?");
    return text;
  }

  async function call(cmd, params) {
    try {
      const response = await fetch(ENDPOINT, {
        method: "POST", cache: "no-store", credentials: "omit",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ cmd: cmd, token: token, params: params || {} }),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      return await response.json();
    } catch (error) {
      return { err: -1, msg: t("network_error") };
    }
  }

  // An answer that says the token is gone sends the user back to the login form.
  function sessionEnded(answer) {
    if (answer.err !== ERR.NOT_LOGGED_IN && answer.err !== ERR.AUTHORIZE) return false;
    showLogin(t("session_over"));
    return true;
  }

  function show(element, text) {
    element.textContent = text || "";
    element.hidden = !text;
  }

  // -- language -------------------------------------------------------------

  function applyLanguage() {
    document.documentElement.lang = lang;
    $("lang").value = lang;
    for (const element of document.querySelectorAll("[data-i18n]")) {
      element.textContent = t(element.dataset.i18n);
    }
    revealPassword($("webui-reveal").getAttribute("aria-pressed") === "true");
    renderStatus();
  }

  // -- login ----------------------------------------------------------------

  function showLogin(message) {
    token = null;
    sessionStorage.removeItem("fsi-token");
    clearTimeout(pollTimer);
    $("app-view").hidden = true;
    $("login-view").hidden = false;
    show($("login-error"), message);
    $("password").value = "";
    $("password").focus();
  }

  async function login(event) {
    event.preventDefault();
    $("login-button").disabled = true;
    const answer = await call("login", { username: $("username").value, password: $("password").value });
    $("login-button").disabled = false;
    if (answer.err !== ERR.OK) {
      show($("login-error"), answer.msg);
      return;
    }
    token = answer.results.token;
    sessionStorage.setItem("fsi-token", token);
    enterApp();
  }

  async function logout() {
    await call("logout");
    showLogin("");
  }

  function enterApp() {
    $("login-view").hidden = true;
    $("app-view").hidden = false;
    show($("login-error"), "");
    poll();
    loadCredentials();
    loadVersions();
  }

  // -- status ---------------------------------------------------------------

  function formatUptime(seconds) {
    const units = t("uptime_units");
    const parts = [[86400, units[0]], [3600, units[1]], [60, units[2]], [1, units[3]]];
    const out = [];
    for (const [size, unit] of parts) {
      const amount = Math.floor(seconds / size);
      seconds -= amount * size;
      if (amount || (size === 1 && !out.length)) out.push(amount + (lang === "en" ? " " : "") + unit);
    }
    return out.slice(0, 2).join(" ");
  }

  function webuiUrl(port) {
    const host = location.hostname.includes(":") ? "[" + location.hostname + "]" : location.hostname;
    return "http://" + host + ":" + port + "/";
  }

  function renderStatus() {
    if (!status) return;
    const state = $("state");
    state.dataset.state = status.state;
    state.textContent = t("state_" + status.state);
    $("pid").textContent = status.pid || "–";
    $("port-now").textContent = status.port || "–";
    $("uptime").textContent = status.running ? formatUptime(status.uptime) : "–";
    renderWatchdog();
    // Never under the user's hands: a status arriving while they type would
    // otherwise replace (or, mid-edit, merge into) what they typed.
    const portField = $("port");
    if (!portEdited && status.port && document.activeElement !== portField) portField.value = status.port;
    const link = $("webui-link");
    link.hidden = !(status.running && status.state === "running");
    $("webui-off").hidden = !link.hidden;
    if (!link.hidden) link.href = webuiUrl(status.port);
    $("start").disabled = $("restart").disabled = $("stop").disabled = !!busy;
    const progress = $("progress");
    show(progress, busy ? t("busy_" + busy) : "");
  }

  // The watchdog's fields are there only while it is on, and what it did
  // only once it has acted; its reason is the plugin's own text, as msg is.
  function renderWatchdog() {
    const health = $("health");
    showFact(health, status.health !== undefined);
    health.dataset.health = status.state === "running" ? status.health : "";
    health.textContent = status.state !== "running" ? "–"
      : t("health_" + status.health, { count: status.failed_checks });
    const watchdog = $("watchdog");
    showFact(watchdog, status.watchdog_restarts !== undefined);
    if (status.watchdog_restarts === undefined) return;
    watchdog.textContent = t("watchdog_last", {
      count: status.watchdog_restarts, reason: status.watchdog_last_reason,
      time: new Date(status.watchdog_last_restart * 1000).toLocaleString(lang) });
  }

  // A fact of the status list: its value and the term before it.
  function showFact(value, visible) {
    value.hidden = value.previousElementSibling.hidden = !visible;
  }

  async function poll() {
    clearTimeout(pollTimer);
    const answer = await call("status");
    if (sessionEnded(answer)) return;
    if (answer.err === ERR.OK) {
      status = answer.results;
      if (waitFor && waitFor.includes(status.state)) {
        busy = waitFor = null;
        loadCredentials();
      }
      renderStatus();
    }
    pollTimer = setTimeout(poll, busy ? BUSY_POLL_MS : POLL_MS);
  }

  // -- actions --------------------------------------------------------------

  function readPort() {
    const field = $("port");
    const text = field.value.trim();
    const port = /^[0-9]{1,5}$/.test(text) ? Number(text) : NaN;
    const valid = port >= 1 && port <= 65535;
    field.setAttribute("aria-invalid", String(!valid));
    show($("port-error"), valid ? "" : t("port_invalid"));
    if (!valid) field.focus();
    return valid ? port : null;
  }

  async function act(kind) {
    show($("action-error"), "");
    let cmd = kind;
    let params = {};
    if (kind !== "stop") {
      const port = readPort();
      if (port === null) return;
      // restart takes the configured port; a new port is a start on it, which
      // the plugin turns into a restart when qBittorrent runs.
      if (kind === "start" || !status || port !== status.port) {
        cmd = "start";
        params = { port: port };
      }
    }
    busy = kind;
    renderStatus();
    const answer = await call(cmd, params);
    if (sessionEnded(answer)) return;
    if (answer.results && answer.results.state) status = answer.results;
    if (answer.err === ERR.TIMEOUT && answer.results) {
      // Still going (a stop saving resume data, a slow start): keep polling.
      waitFor = kind === "stop" ? DOWN_STATES : ["running"].concat(DOWN_STATES);
    } else {
      busy = null;
      if (answer.err === ERR.OK) portEdited = false;
      else show($("action-error"), answer.msg);
      loadCredentials();
    }
    renderStatus();
    poll();
  }

  // -- credentials, versions, log -------------------------------------------

  function revealPassword(visible) {
    const code = $("webui-password");
    const button = $("webui-reveal");
    code.textContent = visible ? code.dataset.secret : "••••••••";
    button.setAttribute("aria-pressed", String(visible));
    button.textContent = t(visible ? "hide" : "show");
  }

  async function loadCredentials() {
    const answer = await call("webui_credentials");
    if (answer.err !== ERR.OK) return;
    $("webui-username").textContent = answer.results.username;
    $("webui-password").dataset.secret = answer.results.password;
    $("webui-pending").hidden = answer.results.applied;
    revealPassword($("webui-reveal").getAttribute("aria-pressed") === "true");
  }

  async function saveCredentials(event) {
    event.preventDefault();
    $("webui-save").disabled = true;
    const answer = await call("set_webui_credentials", {
      username: $("webui-new-username").value, password: $("webui-new-password").value });
    $("webui-save").disabled = false;
    if (sessionEnded(answer)) return;
    show($("webui-form-error"), answer.err === ERR.OK ? "" : answer.msg);
    if (answer.err !== ERR.OK) return;
    $("webui-new-password").value = "";
    $("webui-change").open = false;
    loadCredentials();
  }

  async function loadVersions() {
    const answer = await call("version");
    if (answer.err === ERR.OK) $("versions").textContent = t("versions", answer.results);
  }

  async function loadLog() {
    const answer = await call("log", { lines: 200 });
    $("log-lines").textContent = answer.err === ERR.OK ? answer.results.lines.join("\n") : answer.msg;
  }

  // -- wiring ---------------------------------------------------------------

  $("lang").addEventListener("change", () => {
    lang = $("lang").value;
    localStorage.setItem("fsi-lang", lang);
    applyLanguage();
  });
  $("login-form").addEventListener("submit", login);
  $("logout").addEventListener("click", logout);
  $("control-form").addEventListener("submit", (event) => { event.preventDefault(); act("start"); });
  for (const kind of ["start", "stop", "restart"]) $(kind).addEventListener("click", () => act(kind));
  $("port").addEventListener("input", () => { portEdited = true; });
  $("webui-reveal").addEventListener("click", () =>
    revealPassword($("webui-reveal").getAttribute("aria-pressed") !== "true"));
  $("webui-form").addEventListener("submit", saveCredentials);
  $("log-card").addEventListener("toggle", () => { if ($("log-card").open) loadLog(); });
  $("log-refresh").addEventListener("click", loadLog);

  applyLanguage();
  if (token) enterApp(); else showLogin("");
})();
