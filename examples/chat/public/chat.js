// The chat page: pick a nickname, then messages, "is typing" and
// joined/left notices. ?transport=polling or ?transport=websocket forces a
// transport (the browser test uses both).
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  const transport = params.get("transport");
  const socket = io({ transports: transport ? [transport] : undefined, autoConnect: false });
  let nickname = null;
  let typing = false;
  let typingTimer = null;
  const typers = new Map();

  const colors = ["#e21400", "#91580f", "#f8a700", "#f78b00", "#58dc00", "#287b00",
                  "#a8f07a", "#4ae8c4", "#3b88eb", "#3824aa", "#a700ff", "#d300e7"];
  const colorOf = (name) => colors[[...name].reduce((h, c) => (h * 31 + c.codePointAt(0)) >>> 0, 7) % colors.length];

  function add(node) {
    const list = $("messages");
    list.appendChild(node);
    list.scrollTop = list.scrollHeight;
  }
  function notice(text) {
    const li = document.createElement("li");
    li.className = "notice";
    li.textContent = text;
    add(li);
  }
  function message(user, text) {
    const li = document.createElement("li");
    li.className = "message";
    const u = document.createElement("span");
    u.className = "user";
    u.style.color = colorOf(user);
    u.textContent = user;
    const body = document.createElement("span");
    body.className = "body";
    body.textContent = text;
    li.append(u, body);
    add(li);
  }
  const participants = (n) => (n === 1 ? "there is 1 participant" : `there are ${n} participants`);
  function renderTypers() {
    const names = [...typers.keys()];
    $("typing").textContent = names.length ? `${names.join(", ")} ${names.length > 1 ? "are" : "is"} typing…` : "";
  }

  $("login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const name = $("nickname").value.trim();
    if (!name) return;
    nickname = name;
    $("login").hidden = true;
    $("chat").hidden = false;
    $("message").focus();
    socket.connect();
  });

  $("send-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("message").value.trim();
    if (!text || !socket.connected) return;
    $("message").value = "";
    message(nickname, text);
    socket.emit("new message", text);
    stopTyping();
  });

  function stopTyping() {
    if (typing) socket.emit("stop typing");
    typing = false;
    clearTimeout(typingTimer);
  }
  $("message").addEventListener("input", () => {
    if (!socket.connected) return;
    if (!typing) {
      typing = true;
      socket.emit("typing");
    }
    clearTimeout(typingTimer);
    typingTimer = setTimeout(stopTyping, 1000);
  });

  socket.on("connect", () => {
    $("status").textContent = `connected (${socket.io.engine.transport.name})`;
    socket.emit("add user", nickname);
  });
  socket.io.on("open", () => socket.io.engine.on("upgrade", (t) => {
    $("status").textContent = `connected (${t.name})`;
  }));
  socket.on("disconnect", () => { $("status").textContent = "disconnected"; });
  socket.on("login", ({ numUsers }) => {
    notice("Welcome to the libsio chat");
    notice(participants(numUsers));
  });
  socket.on("new message", ({ username, message: text }) => {
    typers.delete(username);
    renderTypers();
    message(username, text);
  });
  socket.on("user joined", ({ username, numUsers }) => {
    notice(`${username} joined`);
    notice(participants(numUsers));
  });
  socket.on("user left", ({ username, numUsers }) => {
    notice(`${username} left`);
    notice(participants(numUsers));
    typers.delete(username);
    renderTypers();
  });
  socket.on("typing", ({ username }) => { typers.set(username, true); renderTypers(); });
  socket.on("stop typing", ({ username }) => { typers.delete(username); renderTypers(); });
})();
