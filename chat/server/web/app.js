// The web client: the KTN chat protocol over a WebSocket, one request or
// response object per text frame (docs/protocol.md, "Other ways in").
//
// Every text from the network goes into the page with textContent, never
// as HTML. The password is kept in memory only, to log in again after a
// reconnection; it is never stored or shown.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const MAX_BACKOFF = 30000;
  const state = {
    ws: null, name: null, password: null, room: "lobby", loggedIn: false, leaving: false,
    backoff: 1000, retry: null, lastDay: null, seen: new Set(), history: [], recall: 0,
    namesTimer: null,
  };

  // -- rendering -------------------------------------------------------------

  function colourOf(name) {
    let h = 0;
    for (const ch of name.toLowerCase()) h = (h * 31 + ch.codePointAt(0)) >>> 0;
    return "c" + (h % 8);
  }

  function clock(timestamp) {
    const when = new Date(timestamp);
    if (isNaN(when)) return { day: null, time: String(timestamp).slice(0, 16) };
    const pad = (n) => String(n).padStart(2, "0");
    return { day: when.toDateString(), time: pad(when.getHours()) + ":" + pad(when.getMinutes()) };
  }

  function append(li) {
    const log = $("log");
    const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
    log.appendChild(li);
    while (log.children.length > 2000) log.removeChild(log.firstChild);
    if (atEnd) log.scrollTop = log.scrollHeight;
  }

  function line(kind, text, timestamp) {
    const li = document.createElement("li");
    li.className = kind;
    if (timestamp) {
      const t = document.createElement("span");
      t.className = "time";
      t.textContent = clock(timestamp).time;
      li.appendChild(t);
    }
    li.appendChild(document.createTextNode(String(text)));
    append(li);
  }

  function message(msg) {
    const key = msg.timestamp + "\u0000" + msg.sender + "\u0000" + msg.content;
    if (state.seen.has(key)) return;            // seen before a reconnection
    state.seen.add(key);
    const { day, time } = clock(msg.timestamp);
    if (day && day !== state.lastDay) {
      state.lastDay = day;
      const d = document.createElement("li");
      d.className = "date";
      d.textContent = day;
      append(d);
    }
    const sender = String(msg.sender);
    const li = document.createElement("li");
    if (sender.includes(" -> ")) li.className = "pm";
    const t = document.createElement("span");
    t.className = "time";
    t.textContent = time;
    const s = document.createElement("span");
    s.className = "sender " + colourOf(sender.split(" -> ")[0]);
    s.textContent = sender + ":";
    li.append(t, s, document.createTextNode(String(msg.content)));
    append(li);
  }

  function list(id, names, current, onPick) {
    const ul = $(id);
    ul.replaceChildren();
    for (const name of names) {
      const li = document.createElement("li");
      if (onPick) {
        const b = document.createElement("button");
        b.type = "button";
        b.textContent = name;
        b.addEventListener("click", () => onPick(name));
        li.appendChild(b);
      } else {
        li.textContent = name;
      }
      if (current && name.toLowerCase() === current.toLowerCase()) li.className = "current";
      ul.appendChild(li);
    }
  }

  // -- what the server says ----------------------------------------------------

  function info(text, timestamp) {
    let m;
    if (text === "Login successful") {
      state.loggedIn = true;
      state.backoff = 1000;
      $("login").hidden = true;
      $("chat").hidden = false;
      $("room").textContent = "#" + state.room;
      $("me").textContent = state.name;
      $("line").focus();
      if (state.room.toLowerCase() !== "lobby") send("join", state.room);   // back where we were
      askLists();
    } else if ((m = /^Joined #([A-Za-z0-9_-]+)/.exec(text))) {
      state.room = m[1];
      $("room").textContent = "#" + m[1];
      askLists();
    } else if ((m = /^Users (?:online|in #\S+) \((\d+)\): (.*)$/.exec(text))) {
      list("users", m[2] ? m[2].split(", ") : []);
      $("who").textContent = m[1] + (m[1] === "1" ? " user" : " users");
      return;
    } else if ((m = /^Rooms \(\d+\): (.*)$/.exec(text))) {
      const rooms = m[1].split(", ").map((r) => (/^#([A-Za-z0-9_-]+)/.exec(r) || [])[1]).filter(Boolean);
      list("rooms", rooms.map((r) => "#" + r), "#" + state.room, (r) => send("join", r));
      return;
    } else if (/ (joined|left)(;|$)/.test(text)) {
      askLists();
    }
    line("info", text, timestamp);
  }

  function received(obj) {
    if (!obj || typeof obj !== "object") return;
    const kind = obj.response;
    if (kind === "message" || kind === "msg") {
      message(obj);
    } else if (kind === "history") {
      for (let entry of Array.isArray(obj.content) ? obj.content : []) {
        if (typeof entry === "string") {
          try { entry = JSON.parse(entry); } catch (e) { continue; }
        }
        if (entry && typeof entry === "object") message(entry);
      }
    } else if (kind === "info") {
      info(String(obj.content), obj.timestamp);
    } else if (kind === "error") {
      if (!state.loggedIn) {
        $("login-error").textContent = String(obj.content);
        state.leaving = true;   // a refused login is not retried
        state.password = null;
      }
      line("error", String(obj.content), obj.timestamp);
    } else {
      line("info", JSON.stringify(obj), obj.timestamp);
    }
  }

  function askLists() {
    // presence comes in bursts: one names and rooms a second at most
    if (state.namesTimer) return;
    state.namesTimer = setTimeout(() => {
      state.namesTimer = null;
      send("names", null);
      send("rooms", null);
    }, 300);
  }

  // -- the connection ------------------------------------------------------------

  function send(request, content) {
    if (state.ws && state.ws.readyState === WebSocket.OPEN) {
      state.ws.send(JSON.stringify({ request: request, content: content }));
      return true;
    }
    return false;
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(scheme + "//" + location.host + "/chat");
    state.ws = ws;
    setConnection("connecting", true);
    ws.addEventListener("open", () => {
      setConnection(scheme === "wss:" ? "connected (TLS)" : "connected", false);
      send("login", state.password ? state.name + " " + state.password : state.name);
    });
    ws.addEventListener("message", (event) => {
      let obj;
      try { obj = JSON.parse(event.data); } catch (e) { line("error", "unreadable answer"); return; }
      received(obj);
    });
    ws.addEventListener("close", (event) => {
      state.ws = null;
      state.loggedIn = false;
      if (state.leaving) {
        setConnection("logged out", true);
        if (event.reason) line("info", event.reason);
        return;
      }
      if (event.reason) line("error", "disconnected: " + event.reason);
      setConnection("disconnected, retrying in " + Math.round(state.backoff / 1000) + " s", true);
      state.retry = setTimeout(connect, state.backoff);
      state.backoff = Math.min(MAX_BACKOFF, state.backoff * 2);
    });
  }

  function setConnection(text, down) {
    const el = $("connection");
    el.textContent = text;
    el.classList.toggle("down", down);
  }

  // -- what the person does ------------------------------------------------------

  function typed(text) {
    if (!text.trim()) return;
    state.history.push(text);
    state.recall = state.history.length;
    if (!text.startsWith("/")) {
      if (!send("msg", text)) line("error", "not connected: not sent");
      return;
    }
    const space = text.indexOf(" ");
    let word = (space < 0 ? text.slice(1) : text.slice(1, space)).toLowerCase();
    let rest = space < 0 ? null : text.slice(space + 1);
    if (word === "msg" || word === "query") word = "pm";   // IRC habits
    if (word === "quit") word = "logout";
    if (word === "part") word = "leave";
    if (word === "logout") state.leaving = true;
    if (!send(word, rest)) line("error", "not connected: not sent");
  }

  function start() {
    $("login").addEventListener("submit", (event) => {
      event.preventDefault();
      state.name = $("name").value.trim();
      state.password = $("password").value || null;
      $("password").value = "";
      $("login-error").textContent = "";
      state.leaving = false;
      state.room = "lobby";
      connect();
    });
    $("send").addEventListener("submit", (event) => {
      event.preventDefault();
      typed($("line").value);
      $("line").value = "";
    });
    $("join").addEventListener("submit", (event) => {
      event.preventDefault();
      const room = $("join-name").value.trim();
      if (room) send("join", room);
      $("join-name").value = "";
    });
    $("logout").addEventListener("click", () => {
      state.leaving = true;
      if (!send("logout", null)) location.reload();
    });
    $("line").addEventListener("keydown", (event) => {
      if (event.key === "ArrowUp" && state.recall > 0) {
        state.recall -= 1;
      } else if (event.key === "ArrowDown" && state.recall < state.history.length) {
        state.recall += 1;
      } else {
        return;
      }
      event.preventDefault();
      $("line").value = state.history[state.recall] || "";
    });
    $("name").focus();
  }

  document.addEventListener("DOMContentLoaded", start);
})();
