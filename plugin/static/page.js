// The plugin's page: it only talks FSI to ./include/index.php, a relative URL,
// so that it keeps working when a NAS web server forwards a sub-path such as
// /apps/qbittorrent/ to the plugin. The token travels in the JSON body and is
// kept in sessionStorage (no cookies, so no cross-site request can use it).
"use strict";

(function () {
  const ENDPOINT = "./include/index.php";
  const REQUEST_TIMEOUT_MS = 30000;
  // A restore stops qBittorrent, swaps its files in and starts it again.
  const RESTORE_TIMEOUT_MS = 60000;
  const POLL_MS = 3000;
  const BUSY_POLL_MS = 1000;
  const STATS_POLL_MS = 2000;
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
      backups_title: "Backups",
      backups_hint: "A backup holds qBittorrent's settings, categories, tags, RSS rules, port and torrent list, not the downloaded files. While qBittorrent runs, it holds the resume data of qBittorrent's last save.",
      backup_make: "Make a backup", backups_empty: "No backups yet.",
      backup_restore: "Restore", backup_delete: "Delete",
      backup_kind_manual: "made by hand", backup_kind_auto: "made before a restore",
      backup_torrents: "{count} torrents", backup_unreadable: "unreadable",
      backup_running: "made while running",
      busy_backup: "Making a backup…", busy_delete_backup: "Deleting the backup…",
      busy_restore: "Restoring the backup: qBittorrent is stopped and started again…",
      backup_made: "Backup made.",
      backup_made_running: "Backup made while qBittorrent runs: its torrents' resume data is as of qBittorrent's last save. Stop qBittorrent first for an exact copy.",
      backup_deleted: "Backup deleted.",
      backup_restored: "Backup restored. To undo it, restore the backup made before the restore (now at the top of the list).",
      confirm_restore: "Restore the backup of {created}? qBittorrent is stopped and started again; its current settings and torrent list are saved as a backup first.",
      confirm_delete: "Delete the backup of {created}? This cannot be undone.",
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
      stats_title: "Transfers", download_speed: "Download speed", upload_speed: "Upload speed",
      downloaded: "Downloaded this session", uploaded: "Uploaded this session", free_space: "Free space",
      save_path: "Saving to {path}", per_second: "{size}/s", torrents: "Torrents",
      count_total: "Total", count_downloading: "Downloading", count_seeding: "Seeding",
      count_paused: "Paused", count_stalled: "Stalled", count_checking: "Checking",
      count_queued: "Queued", count_error: "Errors",
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
      backups_title: "备份",
      backups_hint: "备份包含 qBittorrent 的设置、分类、标签、RSS 规则、端口和种子列表，不含已下载的文件。qBittorrent 运行时，备份中的续传数据为其上次保存时的状态。",
      backup_make: "立即备份", backups_empty: "还没有备份。",
      backup_restore: "恢复", backup_delete: "删除",
      backup_kind_manual: "手动备份", backup_kind_auto: "恢复前自动备份",
      backup_torrents: "{count} 个种子", backup_unreadable: "无法读取",
      backup_running: "运行中备份",
      busy_backup: "正在备份…", busy_delete_backup: "正在删除备份…",
      busy_restore: "正在恢复备份：qBittorrent 将停止并重新启动…",
      backup_made: "备份完成。",
      backup_made_running: "备份时 qBittorrent 正在运行：种子的续传数据为其上次保存时的状态。如需完全一致的备份，请先停止 qBittorrent。",
      backup_deleted: "备份已删除。",
      backup_restored: "备份已恢复。如需撤销，请恢复恢复前自动生成的备份（现位于列表顶部）。",
      confirm_restore: "恢复 {created} 的备份？qBittorrent 将停止并重新启动；恢复前会先把当前的设置和种子列表备份。",
      confirm_delete: "删除 {created} 的备份？此操作无法撤销。",
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
      stats_title: "传输", download_speed: "下载速度", upload_speed: "上传速度",
      downloaded: "本次已下载", uploaded: "本次已上传", free_space: "剩余空间",
      save_path: "保存到 {path}", per_second: "{size}/s", torrents: "种子",
      count_total: "全部", count_downloading: "下载中", count_seeding: "做种中",
      count_paused: "已暂停", count_stalled: "停滞", count_checking: "校验中",
      count_queued: "排队中", count_error: "错误",
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
  let stats = null;        // last stats answer (err, msg, results)
  let statsTimer = null;
  let statsBusy = false;

  function t(key, values) {
    let text = TEXT[lang][key] || TEXT.en[key] || key;
    // A function, so that a "$" in a value (a save path may have one) stays as it is.
    for (const name in values || {}) text = text.replace("{" + name + "}", () => values[name] ?? "?");
    return text;
  }

  async function call(cmd, params, timeoutMs) {
    try {
      const response = await fetch(ENDPOINT, {
        method: "POST", cache: "no-store", credentials: "omit",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ cmd: cmd, token: token, params: params || {} }),
        signal: AbortSignal.timeout(timeoutMs || REQUEST_TIMEOUT_MS),
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
    renderBackups();
    renderStats();
  }

  // -- login ----------------------------------------------------------------

  function showLogin(message) {
    token = null;
    sessionStorage.removeItem("fsi-token");
    clearTimeout(pollTimer);
    stopStats();
    stats = null;
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
    loadBackups();
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
      if (status.state !== "running") stats = null;  // no figures of a process gone
      if (statsWanted()) scheduleStats(0); else renderStats();
    }
    pollTimer = setTimeout(poll, busy ? BUSY_POLL_MS : POLL_MS);
  }

  // -- transfers (stats) ----------------------------------------------------

  // Only while someone can see them and there is something to show: a hidden
  // tab or a stopped qBittorrent costs neither the plugin nor qBittorrent a call.
  function statsWanted() {
    return !!token && !!status && status.state === "running" && document.visibilityState === "visible";
  }

  function scheduleStats(delay) {
    if (statsTimer !== null || statsBusy) return;
    statsTimer = setTimeout(pollStats, delay);
  }

  function stopStats() {
    clearTimeout(statsTimer);
    statsTimer = null;
  }

  async function pollStats() {
    statsTimer = null;
    if (!statsWanted()) return renderStats();
    statsBusy = true;
    const answer = await call("stats");
    statsBusy = false;
    if (sessionEnded(answer)) return;
    stats = answer;
    renderStats();
    if (statsWanted()) scheduleStats(STATS_POLL_MS);
  }

  function formatBytes(bytes) {
    if (typeof bytes !== "number" || bytes < 0) return "–";
    const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let value = bytes;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return new Intl.NumberFormat(lang, { maximumFractionDigits: unit ? 1 : 0 }).format(value) + " " + units[unit];
  }

  function renderStats() {
    const running = !!status && status.state === "running";
    $("stats-card").hidden = !running;
    const figures = running && stats && stats.err === ERR.OK && stats.results.running ? stats.results : null;
    show($("stats-error"), running && stats && stats.err !== ERR.OK ? stats.msg : "");
    const speed = (bytes) => figures ? t("per_second", { size: formatBytes(bytes) }) : "–";
    $("stat-download-speed").textContent = speed(figures && figures.download_speed);
    $("stat-upload-speed").textContent = speed(figures && figures.upload_speed);
    $("stat-downloaded").textContent = formatBytes(figures && figures.downloaded);
    $("stat-uploaded").textContent = formatBytes(figures && figures.uploaded);
    $("stat-free-space").textContent = formatBytes(figures && figures.free_space);
    show($("stat-save-path"), figures && figures.save_path ? t("save_path", { path: figures.save_path }) : "");
    for (const name of ["total", "downloading", "seeding", "paused", "stalled", "checking", "queued", "error"]) {
      const cell = $("count-" + name);
      const count = figures ? figures.torrents[name] : null;
      cell.textContent = count === null ? "–" : count;
      if (count === null) delete cell.dataset.count; else cell.dataset.count = count;
    }
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

  // -- backups --------------------------------------------------------------

  let backups = [];        // the records of the last backups answer
  let backupBusy = null;   // "backup" | "restore" | "delete_backup" while one runs

  function formatDate(iso) {
    return new Date(iso).toLocaleString(lang, { dateStyle: "medium", timeStyle: "short" });
  }

  function formatSize(bytes) {
    const units = ["B", "KB", "MB", "GB"];
    let size = bytes;
    let unit = 0;
    while (size >= 1024 && unit < units.length - 1) { size /= 1024; unit++; }
    return (unit ? size.toFixed(1) : size) + " " + units[unit];
  }

  function smallButton(text, onClick) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "small";
    button.textContent = text;
    button.disabled = !!backupBusy;
    button.addEventListener("click", onClick);
    return button;
  }

  function backupItem(record) {
    const item = document.createElement("li");
    item.dataset.name = record.name;
    const facts = [t("backup_kind_" + record.kind), formatSize(record.size),
      record.torrents === null ? t("backup_unreadable") : t("backup_torrents", { count: record.torrents })];
    if (record.consistent === false) facts.push(t("backup_running"));
    const text = document.createElement("span");
    const when = document.createElement("strong");
    when.textContent = formatDate(record.created);
    text.append(when, " · " + facts.join(" · "));
    const buttons = document.createElement("span");
    buttons.className = "buttons";
    const remove = smallButton(t("backup_delete"), () => deleteBackup(record));
    remove.classList.add("danger");
    buttons.append(smallButton(t("backup_restore"), () => restoreBackup(record)), remove);
    item.append(text, buttons);
    return item;
  }

  function renderBackups() {
    $("backup-list").replaceChildren(...backups.map(backupItem));
    $("backups-empty").hidden = backups.length > 0;
    $("backup-make").disabled = !!backupBusy;
    show($("backup-progress"), backupBusy ? t("busy_" + backupBusy) : "");
  }

  async function loadBackups() {
    const answer = await call("backups");
    if (sessionEnded(answer)) return;
    if (answer.err !== ERR.OK) {
      show($("backup-error"), answer.msg);
      return;
    }
    backups = answer.results.records;
    renderBackups();
  }

  // One backup command at a time; its outcome in words, then the list again.
  async function backupCommand(cmd, params, done, timeoutMs) {
    show($("backup-error"), "");
    show($("backup-message"), "");
    backupBusy = cmd;
    renderBackups();
    const answer = await call(cmd, params, timeoutMs);
    backupBusy = null;
    renderBackups();
    if (sessionEnded(answer)) return;
    if (answer.err === ERR.OK) show($("backup-message"), done(answer.results));
    else show($("backup-error"), answer.msg);
    loadBackups();
  }

  function makeBackup() {
    backupCommand("backup", {}, (results) => t(results.consistent ? "backup_made" : "backup_made_running"));
  }

  function restoreBackup(record) {
    if (!confirm(t("confirm_restore", { created: formatDate(record.created) }))) return;
    backupCommand("restore", { name: record.name }, () => t("backup_restored"), RESTORE_TIMEOUT_MS)
      .then(() => { poll(); loadCredentials(); });
  }

  function deleteBackup(record) {
    if (!confirm(t("confirm_delete", { created: formatDate(record.created) }))) return;
    backupCommand("delete_backup", { name: record.name }, () => t("backup_deleted"));
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
  $("backup-make").addEventListener("click", makeBackup);
  document.addEventListener("visibilitychange", () => {
    if (statsWanted()) scheduleStats(0); else stopStats();
  });

  applyLanguage();
  if (token) enterApp(); else showLogin("");
})();
