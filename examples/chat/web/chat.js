// The browser face of runtime chat: the same line protocol as `nc`, one
// WebSocket text message per line. Everything the server sends is shown
// with textContent (never as HTML). On a lost connection it reconnects with
// backoff and gives its nick and room again.
"use strict";

const log = document.getElementById("log");
const input = document.getElementById("input");
const roomsList = document.getElementById("rooms");
const status = document.getElementById("status");
const roomLabel = document.getElementById("room");
const meLabel = document.getElementById("me");

let socket = null;
let nick = null;       // the nick the server gave us
let wanted = null;     // the nick to give again after a reconnect
let room = null;       // the room we are in
let backoff = 500;     // ms before the next reconnect attempt
let roomsTimer = null;
let reconnecting = false;  // the next join to the lobby is the server's, after a reconnect

function setStatus(text, kind) {
  status.textContent = text;
  status.className = kind;
}

function show(text, kind, parts) {
  const line = document.createElement("div");
  line.className = "line " + kind;
  if (parts) {
    const tag = document.createElement("span");
    tag.className = "tag";
    tag.textContent = "[" + parts.room + "] ";
    const sender = document.createElement("span");
    sender.className = "sender";
    sender.textContent = "<" + parts.sender + ">";
    line.append(tag, sender, " " + parts.text);
  } else {
    line.textContent = text;
  }
  const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  log.append(line);
  while (log.childElementCount > 2000) log.firstElementChild.remove();
  if (atBottom) log.scrollTop = log.scrollHeight;
}

function send(line) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(line);
}

function setRoom(name) {
  room = name;
  roomLabel.textContent = name ? "#" + name : "";
  send("/rooms");
}

function showRooms(listing) {
  roomsList.replaceChildren();
  for (const entry of listing.split(", ")) {
    const m = /^(\S+) \((\d+)\)$/.exec(entry);
    if (!m) continue;
    const li = document.createElement("li");
    li.textContent = m[1] + " (" + m[2] + ")";
    li.dataset.room = m[1];
    if (room && m[1].toLowerCase() === room.toLowerCase()) li.className = "current";
    li.addEventListener("click", () => send("/join " + m[1]));
    roomsList.append(li);
  }
}

function receive(line) {
  let m;
  if ((m = /^\* you are ([A-Za-z0-9_-]+)/.exec(line))) {
    nick = wanted = m[1];
    meLabel.textContent = nick;
    input.placeholder = "say something, or /help";
    show(line, "notice");
  } else if ((m = /^\* rooms: (.*)$/.exec(line))) {
    showRooms(m[1]);
  } else if ((m = /^\[([^\]]+)\] <([^>]+)> (.*)$/.exec(line))) {
    show(line, "said", { room: m[1], sender: m[2], text: m[3] });
  } else if ((m = /^\[([^\]]+)\] \* (\S+) (joined|left.*|is now known as (\S+))$/.exec(line))) {
    if (m[2] === nick && m[3] === "joined") {
      if (room && wanted && room !== m[1] && m[1] === "lobby" && reconnecting) {
        send("/join " + room);  // back to the room we were in before the reconnect
      } else {
        setRoom(m[1]);
      }
      reconnecting = false;
    } else if (m[2] === nick && m[4]) {
      nick = wanted = m[4];
      meLabel.textContent = nick;
    }
    show(line, "event");
    if (m[2] !== nick) send("/rooms");
  } else if (line.startsWith("[pm")) {
    show(line, "pm");
  } else if (line.startsWith("!")) {
    show(line, "error");
    if (/^! nick .* is taken/.test(line) && !nick) wanted = null;
  } else if (line.startsWith("* welcome")) {
    show(line, "notice");
    if (wanted) send(wanted);
  } else {
    show(line, line.startsWith("[") ? "event" : "notice");
  }
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  setStatus("connecting…", "connecting");
  socket = new WebSocket(scheme + "//" + location.host + "/ws");
  socket.addEventListener("open", () => {
    backoff = 500;
    nick = null;
    setStatus("online", "online");
    clearInterval(roomsTimer);
    roomsTimer = setInterval(() => { if (nick) send("/rooms"); }, 15000);
  });
  socket.addEventListener("message", (event) => receive(String(event.data)));
  socket.addEventListener("close", (event) => {
    clearInterval(roomsTimer);
    const seconds = (backoff / 1000).toFixed(1);
    setStatus("offline (" + (event.code || "no code") + "); reconnecting in " + seconds + " s",
              "offline");
    reconnecting = true;
    setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, 10000);
  });
}

document.getElementById("send").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = input.value;
  if (!text) return;
  if (!nick) wanted = text.replace(/^\/nick /, "");
  send(text);
  input.value = "";
});

connect();
