// evscreen dashboard: live telemetry over the WebSocket on this page's own host and port, and
// commands back. No framework, no build step, nothing loaded from elsewhere.
"use strict";

(function () {
  const DASH = "\u2014";
  const $ = (selector) => document.querySelector(selector);
  const $$ = (selector) => Array.from(document.querySelectorAll(selector));

  // --- where to connect ------------------------------------------------------------------------
  // Browsers cannot set headers on a WebSocket, so the token travels as ?token= on its URL, taken
  // from this page's own URL.
  const token = new URLSearchParams(location.search).get("token");
  const wsUrl = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/" +
    (token ? "?token=" + encodeURIComponent(token) : "");

  // --- formatting ------------------------------------------------------------------------------
  const isNum = (v) => typeof v === "number" && isFinite(v);
  const fixed = (digits) => (v) => (isNum(v) ? v.toFixed(digits) : DASH);
  const text = (v) => (v === null || v === undefined || v === "" ? DASH : String(v));
  const yesNo = (yes, no) => (v) => (v === true ? yes : v === false ? no : DASH);
  const upper = (v) => (typeof v === "string" && v ? v.toUpperCase() : DASH);
  const minutes = (v) => {
    if (!isNum(v) || v < 0) return DASH;
    const s = Math.floor(v);
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  };
  const clock = (v) => {
    const date = typeof v === "string" ? new Date(v) : null;
    if (!date || isNaN(date.getTime())) return DASH;
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
  };

  const FORMAT = {
    timestamp: clock,
    speed: fixed(0), wheel_speed: fixed(0), range_km: fixed(0),
    ambient_temp: fixed(1), cabin_temp: fixed(1), humidity: fixed(0),
    battery_soc: fixed(0), battery_voltage: fixed(1), battery_current: fixed(1), battery_soh: fixed(1),
    motor_rpm: fixed(0), motor_temp: fixed(1), power_kw: fixed(1), efficiency_score: fixed(1),
    "gps.latitude": fixed(5), "gps.longitude": fixed(5), "gps.altitude": fixed(0), "gps.satellites": fixed(0),
    "gps.speed_gps": fixed(0), "gps.heading": fixed(0),
    "tire_pressure.front_left": fixed(1), "tire_pressure.front_right": fixed(1),
    "tire_pressure.rear_left": fixed(1), "tire_pressure.rear_right": fixed(1),
    "battery_cells.block_a": fixed(1), "battery_cells.block_b": fixed(1), "battery_cells.block_c": fixed(1),
    "battery_pack.cell_voltage_min": fixed(2), "battery_pack.cell_voltage_max": fixed(2),
    "battery_pack.cell_voltage_min_id": fixed(0), "battery_pack.cell_voltage_max_id": fixed(0),
    "battery_pack.temp_min": fixed(0), "battery_pack.temp_max": fixed(0), "battery_pack.aux_voltage": fixed(1),
    "battery_pack.max_charge_power_kw": fixed(0), "battery_pack.max_discharge_power_kw": fixed(0),
    "battery_pack.energy_charged_kwh": fixed(0), "battery_pack.energy_discharged_kwh": fixed(0),
    "connectivity.wifi": yesNo("on", "off"), "connectivity.bluetooth": yesNo("on", "off"),
    "connectivity.can_bus": yesNo("on", "off"),
    "media.connected": yesNo("connected", "not connected"), "media.device_name": text,
    "media.track_title": text, "media.track_artist": text, "media.duration": minutes, "media.position": minutes,
    "media.is_playing": yesNo("playing", "paused"),
    "media.volume": (v) => (isNum(v) ? Math.round(v * 100) + " %" : DASH),
    "settings.charge_limit": fixed(0), "settings.regen_level": text, "settings.drive_mode": upper,
    "settings.brightness": fixed(0), "settings.light_theme": yesNo("light", "dark"),
    "settings.predictions_on": yesNo("on", "off"), "settings.twin_mode": upper,
  };

  function valueAt(message, path) {
    let value = message;
    for (const part of path.split(".")) {
      if (value === null || typeof value !== "object") return null;
      value = value[part];
    }
    return value === undefined ? null : value;
  }

  function format(path, value) {
    const formatter = FORMAT[path];
    if (formatter) return formatter(value);
    return isNum(value) ? String(Math.round(value * 10) / 10) : text(value);
  }

  // --- rendering -------------------------------------------------------------------------------
  const fieldElements = $$("[data-field]");
  let last = null; // the latest telemetry message

  function render(message) {
    last = message;
    for (const el of fieldElements) {
      const shown = format(el.dataset.field, valueAt(message, el.dataset.field));
      if (el.textContent !== shown) el.textContent = shown;
      el.classList.toggle("unknown", shown === DASH);
    }
    renderGauges(message);
    renderConnectivity(message.connectivity || {});
    renderMedia(message.media || {});
    renderSettings(message.settings || {});
    renderSources(message.sources || {});
  }

  const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
  const SPEED_MAX = 200;
  const POWER_MIN = -40;
  const POWER_MAX = 100;

  function renderGauges(m) {
    const arc = $("#speed-arc");
    // The gap is longer than the path, so the dash pattern never repeats at the far end.
    arc.style.strokeDasharray = (isNum(m.speed) ? clamp(m.speed / SPEED_MAX, 0, 1) * 100 : 0) + " 200";
    arc.style.opacity = isNum(m.speed) && m.speed >= 0.5 ? "1" : "0";

    const soc = $("#soc-fill");
    soc.style.width = (isNum(m.battery_soc) ? clamp(m.battery_soc, 0, 100) : 0) + "%";
    soc.classList.toggle("low", isNum(m.battery_soc) && m.battery_soc < 20);
    const limit = m.settings ? m.settings.charge_limit : null;
    $("#soc-limit").style.left = (isNum(limit) ? limit : 100) + "%";

    const power = $("#power-fill");
    const span = POWER_MAX - POWER_MIN;
    const zero = (-POWER_MIN / span) * 100;
    if (isNum(m.power_kw)) {
      const at = ((clamp(m.power_kw, POWER_MIN, POWER_MAX) - POWER_MIN) / span) * 100;
      power.style.left = Math.min(zero, at) + "%";
      power.style.width = Math.abs(at - zero) + "%";
      power.classList.toggle("regen", m.power_kw < 0);
    } else {
      power.style.width = "0";
    }

    for (const [block, value] of Object.entries(m.battery_cells || {})) {
      const cell = document.getElementById("cell-" + block);
      if (!cell) continue;
      cell.querySelector(".cell-fill").style.height = (isNum(value) ? clamp(value / 60, 0, 1) * 100 : 0) + "%";
      cell.classList.toggle("cold", isNum(value) && value < 10);
      cell.classList.toggle("warm", isNum(value) && value >= 40 && value < 50);
      cell.classList.toggle("hot", isNum(value) && value >= 50);
    }

    for (const [wheel, psi] of Object.entries(m.tire_pressure || {})) {
      const label = $(".tyre-label." + { front_left: "fl", front_right: "fr", rear_left: "rl", rear_right: "rr" }[wheel]);
      if (label) label.classList.toggle("warn", isNum(psi) && (psi < 28 || psi > 44));
    }

    const heading = m.gps ? m.gps.heading : null;
    $("#compass-needle").style.transform = "rotate(" + (isNum(heading) ? heading : 0) + "deg)";
  }

  function renderConnectivity(c) {
    for (const name of ["wifi", "bluetooth", "can_bus"]) {
      const chip = document.getElementById("conn-" + name);
      chip.classList.toggle("on", c[name] === true);
      chip.classList.toggle("off", c[name] !== true);
    }
  }

  function renderMedia(media) {
    const playing = media.is_playing === true;
    const button = $("#play-pause");
    button.classList.toggle("playing", playing);
    button.setAttribute("aria-label", playing ? "pause" : "play");
    const fill = $("#media-progress");
    fill.style.width = isNum(media.position) && isNum(media.duration) && media.duration > 0
      ? clamp(media.position / media.duration, 0, 1) * 100 + "%" : "0";
    setControl($("#volume"), isNum(media.volume) ? Math.round(media.volume * 100) : null);
  }

  function renderSettings(s) {
    const root = document.documentElement;
    if (typeof s.light_theme === "boolean") root.dataset.theme = s.light_theme ? "light" : "dark";
    $(".mode-badge").dataset.mode = s.drive_mode || "";
    $("#car").classList.toggle("three-d", s.twin_mode === "3d");
    $("#dim").style.opacity = isNum(s.brightness) ? String((1 - clamp(s.brightness, 0, 100) / 100) * 0.6) : "0";
    for (const group of $$(".segmented[data-action]")) {
      const value = s[SETTING_OF[group.dataset.action]];
      for (const b of group.querySelectorAll("button")) b.setAttribute("aria-pressed", String(b.dataset.value === value));
    }
    for (const input of $$("input[data-action]")) {
      const value = s[SETTING_OF[input.dataset.action]];
      setControl(input, isNum(value) ? value : null);
    }
    for (const toggle of $$(".toggle[data-setting]")) {
      toggle.setAttribute("aria-pressed", String(s[toggle.dataset.setting] === true));
    }
  }

  const SETTING_OF = {
    set_drive_mode: "drive_mode", set_regen_level: "regen_level", set_twin_mode: "twin_mode",
    set_charge_limit: "charge_limit", set_brightness: "brightness",
  };

  // Telemetry moves a control only while the person is not holding or typing in it.
  const held = new Set(); // a pointer is down on it
  const busy = new Set(); // its command is on its way
  function setControl(input, value) {
    if (held.has(input) || busy.has(input) || (document.activeElement === input && input.type !== "range")) return;
    const shown = value === null ? "" : String(value);
    if (input.value !== shown && !(input.type === "range" && value === null)) input.value = shown;
  }

  function renderSources(sources) {
    const list = $("#sources-list");
    const names = Object.keys(sources);
    const items = names.length ? names.map((name) => {
      const info = sources[name] || {};
      const li = document.createElement("li");
      li.dataset.state = info.state || "";
      li.dataset.source = name;
      const dot = document.createElement("span");
      dot.className = "src-dot";
      const label = document.createElement("span");
      label.className = "src-name";
      label.textContent = name;
      const age = document.createElement("span");
      age.className = "src-age";
      age.textContent = isNum(info.age) ? ageText(info.age) : DASH;
      const state = document.createElement("span");
      state.className = "src-state";
      state.textContent = text(info.state);
      li.append(dot, label, state, age);
      if (info.detail) {
        age.textContent += " · ";
        const detail = document.createElement("span");
        detail.className = "src-detail";
        detail.textContent = info.detail;
        li.title = info.detail;
        age.append(detail);
      }
      return li;
    }) : [Object.assign(document.createElement("li"), { className: "muted", textContent: "no sources " + DASH })];
    list.replaceChildren(...items);
  }

  function ageText(age) {
    if (age < 1) return Math.round(age * 1000) + " ms ago";
    if (age < 120) return age.toFixed(1) + " s ago";
    return Math.round(age / 60) + " min ago";
  }

  // --- commands and their responses ------------------------------------------------------------
  const pending = new Map(); // request_id -> {resolve, timer}
  let nextId = 1;
  const RESPONSE_TIMEOUT_MS = 5000;
  // connect_bluetooth answers once the phone is connected: up to bluetooth.connect_timeout
  // (at most 300 s) on a real adapter.
  const TIMEOUT_MS = { connect_bluetooth: 305000 };

  /** Send one raw command object; resolves with the server's response (or a local error). */
  function send(command) {
    return new Promise((resolve) => {
      const action = command && command.action;
      if (!ws || ws.readyState !== WebSocket.OPEN) {
        resolve({ type: "response", action, status: "error", error: "not connected to the server" });
        return;
      }
      const id = "web-" + nextId++;
      const timer = setTimeout(() => {
        pending.delete(id);
        resolve({ type: "response", action, status: "error", error: "no response from the server" });
      }, TIMEOUT_MS[action] || RESPONSE_TIMEOUT_MS);
      pending.set(id, { resolve, timer });
      ws.send(JSON.stringify(Object.assign({}, command, { request_id: id })));
    });
  }

  function onResponse(response) {
    const waiter = pending.get(response.request_id);
    if (!waiter) {
      showResult(response); // e.g. invalid_json: the server could not read a request_id to echo
      return;
    }
    pending.delete(response.request_id);
    clearTimeout(waiter.timer);
    waiter.resolve(response);
  }

  function failPending(reason) {
    for (const [id, waiter] of pending) {
      clearTimeout(waiter.timer);
      waiter.resolve({ type: "response", status: "error", error: reason });
      pending.delete(id);
    }
  }

  const NAMES = {
    play_music: "Play", pause_music: "Pause", next_track: "Next track", previous_track: "Previous track",
    set_volume: "Volume", set_charge_limit: "Charge limit", set_regen_level: "Regen", set_drive_mode: "Drive mode",
    set_brightness: "Brightness", set_theme: "Theme", toggle_predictions: "Predictions", set_twin_mode: "Twin mode",
    connect_bluetooth: "Bluetooth",
  };

  /** Send a command from a control, show the outcome, and mark the control busy meanwhile. */
  async function command(action, value, control, key) {
    const message = { action };
    if (value !== undefined) message[key || "value"] = value;
    if (control) control.setAttribute("aria-busy", "true");
    const response = await send(message);
    if (control) control.removeAttribute("aria-busy");
    showResult(response, value);
    return response;
  }

  let toastTimer = null;
  function showResult(response, value) {
    const toast = $("#toast");
    const ok = response.status === "success";
    const name = NAMES[response.action] || response.action || "Command";
    let shown = "";
    if (value !== undefined && value !== null) {
      shown = typeof value === "boolean" ? (value ? " on" : " off") : " " + value;
      if (response.action === "set_theme") shown = value ? " light" : " dark";
      if (response.action === "set_volume" && isNum(value)) shown = " " + Math.round(value * 100) + " %";
    }
    if (response.action === "connect_bluetooth" && value) shown = " " + value + " connected";
    toast.textContent = ok ? name + shown : response.error || "the server refused " + name;
    toast.dataset.status = ok ? "success" : "error";
    toast.dataset.action = response.action || "";
    toast.classList.add("show");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => toast.classList.remove("show"), ok ? 2500 : 8000);
  }

  function showPending(message) {
    const toast = $("#toast");
    toast.textContent = message;
    toast.dataset.status = "pending";
    toast.classList.add("show");
    clearTimeout(toastTimer);
  }

  function openSettings(open) {
    $("#settings").hidden = !open;
    $("#open-settings").setAttribute("aria-expanded", String(open));
    if (open) $("#close-settings").focus();
  }

  function selectTab(selected) {
    for (const tab of $$('[role="tab"]')) {
      const on = tab === selected;
      tab.setAttribute("aria-selected", String(on));
      tab.tabIndex = on ? 0 : -1;
      document.getElementById(tab.getAttribute("aria-controls")).hidden = !on;
    }
  }

  function holdWhilePressed(input) {
    input.addEventListener("pointerdown", () => held.add(input));
    for (const type of ["pointerup", "pointercancel", "lostpointercapture"]) {
      input.addEventListener(type, () => held.delete(input));
    }
  }

  function bindControls() {
    for (const group of $$(".segmented[data-action]")) {
      for (const button of group.querySelectorAll("button")) {
        button.addEventListener("click", () => command(group.dataset.action, button.dataset.value, group));
      }
    }
    for (const input of $$("input[data-action]")) {
      const partner = $$('input[data-action="' + input.dataset.action + '"]').find((other) => other !== input);
      if (input.type === "range") {
        holdWhilePressed(input);
        input.addEventListener("input", () => { partner.value = input.value; });
      }
      input.addEventListener("change", async () => {
        busy.add(input);
        // The value goes to the server as typed: it is the one that checks it, and its error is shown.
        const typed = Number(input.value);
        const response = input.value.trim() !== "" ? await command(input.dataset.action, typed, input) : null;
        busy.delete(input);
        // Show what the server now holds: the value sent if it took it, its previous value if not.
        const settings = last && last.settings ? last.settings : {};
        const kept = response && response.status === "success" ? typed : settings[SETTING_OF[input.dataset.action]];
        for (const el of [input, partner]) el.value = isNum(kept) ? String(kept) : "";
      });
    }
    for (const toggle of $$(".toggle[data-action]")) {
      toggle.addEventListener("click", () => {
        const current = last && last.settings ? last.settings[toggle.dataset.setting] : null;
        command(toggle.dataset.action, current !== true, toggle);
      });
    }
    for (const button of $$("button[data-action]")) {
      button.addEventListener("click", () => command(button.dataset.action, undefined, button));
    }
    $("#play-pause").addEventListener("click", (event) => {
      const playing = last && last.media && last.media.is_playing === true;
      command(playing ? "pause_music" : "play_music", undefined, event.currentTarget);
    });
    const volume = $("#volume");
    holdWhilePressed(volume);
    volume.addEventListener("change", async () => {
      busy.add(volume);
      await command("set_volume", Number(volume.value) / 100, volume, "volume");
      busy.delete(volume);
    });
    $("#bt-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const address = $("#bt-address").value.trim();
      showPending("Connecting " + address + "…");
      command("connect_bluetooth", address, event.currentTarget, "device_address");
    });
    $("#open-settings").addEventListener("click", () => openSettings($("#settings").hidden));
    $("#close-settings").addEventListener("click", () => openSettings(false));
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !$("#settings").hidden) openSettings(false);
    });
    const tabs = $$('[role="tab"]');
    tabs.forEach((tab, i) => {
      tab.addEventListener("click", () => selectTab(tab));
      tab.addEventListener("keydown", (event) => {
        const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
        if (!step) return;
        const next = tabs[(i + step + tabs.length) % tabs.length];
        selectTab(next);
        next.focus();
      });
    });
    $("#token-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const params = new URLSearchParams(location.search);
      params.set("token", $("#token-input").value);
      location.search = params.toString();
    });
  }

  // --- the connection --------------------------------------------------------------------------
  let ws = null;
  let attempt = 0;
  let lastMessageAt = 0;
  let interval = 1000; // the server's telemetry interval as measured (ms), for the silence watchdog

  // The interval the server sends telemetry at, from the timestamps it puts on them (its own
  // clock: no network or browser jitter), as the median of the latest gaps. The first message of
  // a connection is sent on connect, off the server's schedule, so the gap after it is no
  // interval; responses to commands are not telemetry and do not count.
  const GAPS_KEPT = 7;
  let gaps = [];
  let stampOfLast = null; // server time (ms) of the previous scheduled telemetry
  let telemetryCount = 0; // on this connection

  function measureInterval(message) {
    const stamp = Date.parse(message.timestamp);
    telemetryCount += 1;
    if (!isFinite(stamp)) return;
    if (telemetryCount > 2 && stampOfLast !== null && stamp > stampOfLast) {
      gaps = gaps.concat([stamp - stampOfLast]).slice(-GAPS_KEPT);
      const sorted = gaps.slice().sort((a, b) => a - b);
      interval = sorted[Math.floor(sorted.length / 2)];
      const seconds = interval / 1000; // two significant digits: 1.0, 0.50, 0.020 (a ms either way is jitter)
      $("#rate").textContent = seconds < 100 ? seconds.toPrecision(2) : seconds.toFixed(0);
    }
    if (telemetryCount >= 2) stampOfLast = stamp;
  }

  function setLink(state, label) {
    const link = $(".link");
    link.dataset.state = state;
    $("#link-text").textContent = label || state;
  }

  function banner(message, refused, askToken) {
    const el = $("#banner");
    $("#banner-text").textContent = message;
    el.classList.toggle("refused", Boolean(refused));
    $("#token-form").hidden = !askToken;
    el.hidden = false;
  }

  function connect() {
    setLink("connecting", "connecting");
    let opened = false;
    const socket = new WebSocket(wsUrl);
    ws = socket;
    socket.addEventListener("open", () => {
      opened = true;
      attempt = 0;
      telemetryCount = 0;
      stampOfLast = null;
      gaps = [];
      lastMessageAt = Date.now();
      $("#banner").hidden = true;
      setLink("live", "live");
    });
    socket.addEventListener("message", (event) => {
      const now = Date.now();
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      if (message && message.type === "telemetry") {
        measureInterval(message);
        render(message);
      } else if (message && message.type === "response") {
        onResponse(message);
      }
      lastMessageAt = now;
    });
    socket.addEventListener("close", () => {
      if (ws === socket) ws = null;
      failPending("the connection to the server was lost");
      setLink("offline", "offline");
      if (opened) {
        banner("Connection to the server lost. Reconnecting…");
        retry(false);
      } else {
        diagnose();
      }
    });
  }

  // A WebSocket that fails before opening does not say why. The server answers plain HTTP on the
  // same port without a token: if it does, it is up and refused this page (token, origin, or too
  // many clients); if not, it is down or restarting.
  async function diagnose() {
    let health = null;
    try {
      const reply = await fetch("/healthz", { cache: "no-store" });
      health = await reply.json();
    } catch (error) {
      health = null;
    }
    if (!health) {
      banner("Cannot reach the server. Reconnecting…");
      retry(false);
    } else if (health.token_required && !token) {
      banner("The server refused the connection: it needs a token. Open this page as /?token=YOUR_TOKEN, or enter it:", true, true);
      retry(true);
    } else if (health.token_required) {
      banner("The server refused this token (or it has too many clients). Enter the token:", true, true);
      retry(true);
    } else {
      banner("The server refused the connection: this page's origin is not allowed (server.allowed_origins), or it has too many clients. Retrying…", true, false);
      retry(true);
    }
  }

  function retry(refused) {
    const ceiling = refused ? 30000 : 5000;
    const delay = Math.min(ceiling, 500 * 2 ** attempt) * (0.8 + Math.random() * 0.4);
    attempt = Math.min(attempt + 1, 10);
    setTimeout(connect, delay);
  }

  // A connection that silently died (Wi-Fi gone without a FIN) is closed after a long silence,
  // so the reconnect logic above takes over.
  setInterval(() => {
    if (ws && ws.readyState === WebSocket.OPEN && Date.now() - lastMessageAt > Math.max(10000, interval * 5)) {
      ws.close();
    }
  }, 2000);

  function drawTicks() {
    const ticks = $("#speed-ticks");
    const ns = "http://www.w3.org/2000/svg";
    for (let v = 0; v <= SPEED_MAX; v += 20) {
      const angle = ((135 + (270 * v) / SPEED_MAX) * Math.PI) / 180;
      const at = (r) => [150 + r * Math.cos(angle), 150 + r * Math.sin(angle)];
      const [x1, y1] = at(v % 40 === 0 ? 97 : 101);
      const [x2, y2] = at(106);
      const line = document.createElementNS(ns, "line");
      line.setAttribute("x1", x1.toFixed(1));
      line.setAttribute("y1", y1.toFixed(1));
      line.setAttribute("x2", x2.toFixed(1));
      line.setAttribute("y2", y2.toFixed(1));
      ticks.append(line);
      if (v % 40 === 0) {
        const [x, y] = at(143);
        const label = document.createElementNS(ns, "text");
        label.setAttribute("x", x.toFixed(1));
        label.setAttribute("y", y.toFixed(1));
        label.textContent = String(v);
        ticks.append(label);
      }
    }
  }

  // For developers (and the browser tests): the page's own send function and latest telemetry.
  window.evscreen = {
    send,
    get telemetry() { return last; },
    get connected() { return Boolean(ws && ws.readyState === WebSocket.OPEN); },
  };

  for (const el of fieldElements) el.classList.add("unknown"); // until the first telemetry says otherwise
  drawTicks();
  bindControls();
  connect();
})();
