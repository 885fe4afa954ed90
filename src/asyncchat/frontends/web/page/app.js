// asyncchat in a browser. The server sends one JSON object per WebSocket
// message (docs/web.md); this page renders them. Text from the chat is only
// ever put into the page as text (textContent, createTextNode), never as HTML.
"use strict";

(() => {
  const KEEP = 1000;               // messages kept per conversation
  const RECALL = 50;               // typed lines Arrow-Up can bring back
  const RETRY_FIRST = 500;         // ms before the first reconnect
  const RETRY_MAX = 30000;         // ms between reconnects at most
  const FINAL = new Set(["signed-in-elsewhere", "removed", "bye"]);

  const $ = (id) => document.getElementById(id);
  const el = {
    status: $("status"), login: $("login"), loginTitle: $("login-title"), name: $("name"),
    password: $("password"), passwordLabel: $("password-label"), loginError: $("login-error"),
    loginButton: $("login-button"), chat: $("chat"), rooms: $("rooms"), privates: $("privates"),
    joinRoom: $("join-room"), newRoom: $("new-room"), viewTitle: $("view-title"), topic: $("topic"),
    messages: $("messages"), send: $("send"), entry: $("entry"), who: $("who"), count: $("count"),
    people: $("people"), peopleToggle: $("people-toggle"),
  };

  const state = {
    socket: null, me: null, mention: null, wanted: null, naming: true, askedPassword: false, final: false,
    retries: 0, retryTimer: null, room: "lobby", roomCounts: new Map(), topics: new Map(),
    views: new Map(), current: null, here: new Map(), recalled: [], recallAt: 0,
  };

  // Conversations: "#room" or "@name", each with its own messages and counters.
  function view(key) {
    let found = state.views.get(key);
    if (!found) {
      found = { key, items: [], unread: 0, mentions: 0 };
      state.views.set(key, found);
    }
    return found;
  }
  const roomKey = (room) => "#" + room;
  const privateKey = (name) => "@" + name.toLowerCase();
  const privateName = new Map();   // "@bob" -> "Bob" as last seen

  function nickClass(name) {
    let hash = 0;
    for (const ch of name.toLowerCase()) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
    return "nick-" + (hash % 12);
  }

  function clock(seconds) {
    const when = seconds ? new Date(seconds * 1000) : new Date();
    const node = document.createElement("time");
    node.dateTime = when.toISOString();
    node.title = when.toLocaleString();
    node.textContent = when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    return node;
  }

  function escapeRegExp(text) { return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); }
  // Our name as a word of its own, compiled once per name (setMe).
  function setMe(name) {
    state.me = name;
    state.mention = new RegExp("(^|[^\\p{L}\\p{N}_-])" + escapeRegExp(name) + "(?![\\p{L}\\p{N}_-])", "iu");
  }
  function mentions(text) { return state.mention !== null && state.mention.test(text); }

  // Text with http(s) addresses made into links; everything else stays text.
  function richText(text) {
    const span = document.createElement("span");
    span.className = "text";
    const found = /\bhttps?:\/\/[^\s<>"']+/g;
    let at = 0;
    for (const match of text.matchAll(found)) {
      span.append(document.createTextNode(text.slice(at, match.index)));
      const address = match[0].replace(/[.,;:!?)\]]+$/, "");
      let url = null;
      try { url = new URL(address); } catch { url = null; }
      if (url && (url.protocol === "http:" || url.protocol === "https:")) {
        const link = document.createElement("a");
        link.href = url.href;
        link.rel = "noopener noreferrer nofollow";
        link.target = "_blank";
        link.textContent = address;
        span.append(link);
      } else {
        span.append(document.createTextNode(address));
      }
      at = match.index + address.length;
    }
    span.append(document.createTextNode(text.slice(at)));
    return span;
  }

  function line(kind, parts, time) {
    const item = document.createElement("li");
    item.className = kind;
    if (kind !== "divider") item.append(clock(time));
    for (const part of parts) item.append(part);
    return item;
  }

  function who(name) {
    const node = document.createElement("span");
    node.className = "from " + nickClass(name);
    node.textContent = name;
    return node;
  }

  function text(content) { return document.createTextNode(content); }

  function add(key, item, { counts = true, mention = false } = {}) {
    const target = view(key);
    target.items.push(item);
    if (target.items.length > KEEP) {
      const old = target.items.shift();
      if (state.current === key) old.remove();
    }
    const seen = state.current === key && !document.hidden;
    if (state.current === key) {
      const list = el.messages;
      const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
      list.append(item);
      if (atBottom) list.scrollTop = list.scrollHeight;
    }
    if (counts && !seen) {
      target.unread += 1;
      if (mention) target.mentions += 1;
      drawViews();
    }
  }

  function system(content, kind = "system", key = state.current || roomKey(state.room)) {
    add(key, line(kind, [text(content)]), { counts: false });
  }

  function updateTitle() {
    let mentioned = 0;
    for (const each of state.views.values()) mentioned += each.mentions;
    const where = state.current ? (state.current.startsWith("#") ? state.current : privateName.get(state.current) || state.current.slice(1)) : "";
    document.title = (mentioned ? `(${mentioned}) ` : "") + (where ? where + " — " : "") + "asyncchat";
  }

  function badge(target) {
    if (!target || !target.unread) return null;
    const node = document.createElement("span");
    node.className = "unread" + (target.mentions ? " mentioned" : "");
    node.textContent = String(target.unread);
    node.setAttribute("aria-label", `${target.unread} unread` + (target.mentions ? `, ${target.mentions} for you` : ""));
    return node;
  }

  function viewButton(key, label, extra) {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.view = key;
    if (state.current === key) button.setAttribute("aria-current", "true");
    const name = document.createElement("span");
    name.className = "label";
    name.textContent = label;
    button.append(name);
    if (extra) button.append(extra);
    const unread = badge(state.views.get(key));
    if (unread) button.append(unread);
    item.append(button);
    return item;
  }

  function drawViews() {
    const rooms = new Map([["lobby", 0], ...state.roomCounts]);
    if (!rooms.has(state.room)) rooms.set(state.room, state.here.size);
    el.rooms.replaceChildren(...[...rooms].map(([room, count]) => {
      const counter = document.createElement("span");
      counter.className = "count";
      counter.textContent = String(room === state.room ? state.here.size || count : count);
      counter.setAttribute("aria-label", `${counter.textContent} here`);
      return viewButton(roomKey(room), "#" + room, counter);
    }));
    const privates = [...state.views.keys()].filter((key) => key.startsWith("@"));
    if (privates.length) {
      el.privates.replaceChildren(...privates.map((key) => viewButton(key, privateName.get(key) || key.slice(1))));
    } else {
      const hint = document.createElement("li");
      hint.className = "empty";
      hint.textContent = "Click a name to write privately.";
      el.privates.replaceChildren(hint);
    }
    updateTitle();
  }

  function drawPeople() {
    const names = [...state.here.keys()].sort((a, b) => a.localeCompare(b, undefined, { sensitivity: "base" }));
    el.count.textContent = `(${names.length})`;
    el.who.replaceChildren(...names.map((name) => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.name = name;
      const label = document.createElement("span");
      label.className = "label " + nickClass(name);
      label.textContent = name + (name === state.me ? " (you)" : "");
      button.append(label);
      const away = state.here.get(name);
      if (away) {
        item.className = "away";
        button.title = "away: " + away;
      }
      button.setAttribute("aria-label", name === state.me ? `${name} (you)` : `Write privately to ${name}`);
      item.append(button);
      return item;
    }));
    drawViews();
  }

  function show(key) {
    state.current = key;
    const target = view(key);
    target.unread = 0;
    target.mentions = 0;
    if (key.startsWith("#")) {
      el.viewTitle.textContent = key;
      el.topic.textContent = state.topics.get(key.slice(1)) || "";
      el.entry.placeholder = `Message ${key}, or /help`;
    } else {
      const name = privateName.get(key) || key.slice(1);
      el.viewTitle.textContent = "Private: " + name;
      el.topic.textContent = "Only you and " + name + " see this conversation.";
      el.entry.placeholder = `Message ${name} privately`;
    }
    el.messages.replaceChildren(...target.items);
    el.messages.scrollTop = el.messages.scrollHeight;
    drawViews();
  }

  function setStatus(content, offline = false) {
    el.status.textContent = content;
    el.status.classList.toggle("offline", offline);
  }

  // The name form doubles as the password form when the name is registered.
  function askName(problem) {
    state.naming = true;
    state.askedPassword = false;
    el.chat.hidden = true;
    el.peopleToggle.hidden = true;
    el.login.hidden = false;
    el.loginTitle.textContent = "Choose a name";
    el.name.hidden = false;
    el.password.hidden = true;
    el.passwordLabel.hidden = true;
    el.password.value = "";
    el.loginButton.textContent = "Join";
    el.loginError.textContent = problem || "";
    el.name.focus();
  }

  function askPassword(name, prompt) {
    state.askedPassword = true;
    el.login.hidden = false;
    el.chat.hidden = true;
    el.loginTitle.textContent = prompt;
    el.name.value = name;
    state.askedName = name;  // change the name field to choose another name instead
    el.password.hidden = false;
    el.passwordLabel.hidden = false;
    el.loginButton.textContent = "Sign in";
    el.password.focus();
  }

  function send(message) {
    if (state.socket && state.socket.readyState === WebSocket.OPEN) {
      state.socket.send(JSON.stringify(message));
      return true;
    }
    system("Not connected: that was not sent. Reconnecting…", "system error");
    return false;
  }

  const handlers = {
    welcome() {
      state.naming = true;
      setStatus("Connected");
      if (state.wanted) send({ type: "name", name: state.wanted });
      else askName("");
    },
    "ask-name"() { askName(el.loginError.textContent); },
    "ask-password"(message) { askPassword(message.name, message.text); },
    hello(message) {
      const back = state.me && state.room !== "lobby" ? state.room : null;  // a reconnect
      setMe(message.name);
      state.wanted = message.name;
      state.naming = false;
      state.retries = 0;
      state.room = "lobby";
      el.login.hidden = true;
      el.chat.hidden = false;
      el.peopleToggle.hidden = false;
      setStatus(`Connected as ${message.name}`);
      state.topics.set("lobby", message.topic || "");
      view(roomKey("lobby")).items = [];
      state.here = new Map(message.online.map((name) => [name, null]));
      show(roomKey("lobby"));
      system(`Hello ${message.name}! Type /help for commands.`);
      drawPeople();
      send({ type: "who" });
      send({ type: "rooms" });
      if (back) send({ type: "join", room: back });
      el.entry.focus();
    },
    room(message) {
      state.room = message.room;
      state.topics.set(message.room, message.topic || "");
      state.here = new Map(message.names.map((name) => [name, null]));
      view(roomKey(message.room)).items = [];
      show(roomKey(message.room));
      system(`Now in #${message.room} (${message.names.length} here)`);
      drawPeople();
      send({ type: "who" });
      send({ type: "rooms" });
    },
    rooms(message) {
      state.roomCounts = new Map(message.rooms.map((each) => [each.room, each.count]));
      drawViews();
    },
    online(message) {
      const away = new Set(message.away);
      state.here = new Map(message.names.map((name) => [name, away.has(name) ? "away" : null]));
      drawPeople();
    },
    "history-start"(message) {
      add(roomKey(message.room), line("divider", [text(`Recent messages in #${message.room}`)]), { counts: false });
    },
    history(message) {
      const kind = "history" + (message.action ? " action" : "");
      add(roomKey(message.room), line(kind, [who(message.from), richText(message.text)], message.time), { counts: false });
    },
    "history-end"(message) {
      add(roomKey(message.room), line("divider", [text("Now")]), { counts: false });
    },
    message(message) {
      const own = message.from === state.me;  // our own, echoed as the room got it
      const mention = !own && mentions(message.text);
      const kind = "said" + (message.action ? " action" : "") + (mention ? " mention" : "") + (own ? " own" : "");
      add(roomKey(message.room), line(kind, [who(message.from), richText(message.text)], message.time), { mention, counts: !own });
    },
    private(message) {
      privateName.set(privateKey(message.from), message.from);
      add(privateKey(message.from), line("said private", [who(message.from), richText(message.text)], message.time), { mention: true });
    },
    "private-sent"(message) {
      privateName.set(privateKey(message.to), message.to);
      add(privateKey(message.to), line("said private", [who(state.me), richText(message.text)]), { counts: false });
      drawViews();
    },
    joined(message) {
      state.here.set(message.name, null);
      system(`${message.name} joined`, "system", roomKey(state.room));
      drawPeople();
    },
    left(message) {
      state.here.delete(message.name);
      system(message.text, "system", roomKey(state.room));
      drawPeople();
    },
    renamed(message) {
      if (state.here.has(message.old)) {
        state.here.set(message.new, state.here.get(message.old));
        state.here.delete(message.old);
      }
      if (message.old === state.me) {
        setMe(message.new);
        state.wanted = message.new;
        setStatus(`Connected as ${message.new}`);
      }
      system(`${message.old} is now ${message.new}`, "system", roomKey(state.room));
      drawPeople();
    },
    topic(message) {
      state.topics.set(message.room, message.topic);
      if (state.current === roomKey(message.room)) el.topic.textContent = message.topic;
      system(message.topic ? `Topic of #${message.room}: ${message.topic}` : `#${message.room} has no topic (/topic TEXT sets one)`);
    },
    "topic-changed"(message) {
      state.topics.set(message.room, message.topic);
      if (state.current === roomKey(message.room)) el.topic.textContent = message.topic;
      const said = message.topic ? `${message.name} set the topic: ${message.topic}` : `${message.name} cleared the topic`;
      system(said, "system", roomKey(message.room));
    },
    "away-changed"(message) {
      if (state.here.has(message.name)) {
        state.here.set(message.name, message.message);
        drawPeople();
      }
    },
    pong(message) { system(message.token ? `pong ${message.token}` : "pong"); },
    help(message) { system(message.text, "system help"); },
    wall(message) { system(`Notice from ${message.from}: ${message.text}`, "system wall"); },
    error(message) {
      if (state.naming) el.loginError.textContent = message.text;
      else system(message.text, "system error");
      if (message.code === "banned" && message.text.startsWith("you are banned")) state.final = true;
    },
    shutdown(message) { system(message.text, "system error"); },
    tagged() {},
  };
  for (const kind of ["notice", "account", "is-away", "away", "ignoring", "ignore-list", "bye", "signed-in-elsewhere", "removed"]) {
    handlers[kind] = (message) => {
      if (FINAL.has(kind)) state.final = true;
      system(message.text, kind === "removed" || kind === "signed-in-elsewhere" ? "system error" : "system");
    };
  }

  function connect() {
    state.retryTimer = null;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}/ws`);
    state.socket = socket;
    setStatus("Connecting…");
    socket.addEventListener("message", (event) => {
      if (typeof event.data !== "string") return;
      let message;
      try { message = JSON.parse(event.data); } catch { return; }
      const handle = handlers[message.type];
      if (handle) handle(message);
    });
    socket.addEventListener("close", (event) => {
      if (state.socket !== socket) return;
      state.socket = null;
      if (state.final) {
        setStatus("Disconnected. Reload the page to join again.", true);
        return;
      }
      const delay = Math.min(RETRY_MAX, RETRY_FIRST * 2 ** state.retries) * (0.75 + Math.random() / 2);
      state.retries += 1;
      const why = event.reason ? ` (${event.reason})` : "";
      setStatus(`Disconnected${why}; reconnecting in ${Math.ceil(delay / 1000)} s…`, true);
      if (!state.naming) system("Disconnected; reconnecting…", "system error");
      state.retryTimer = setTimeout(connect, delay);
    });
  }

  // Input: the name form, the message box, the lists.
  el.login.addEventListener("submit", (event) => {
    event.preventDefault();
    el.loginError.textContent = "";
    if (state.askedPassword && el.name.value.trim() === state.askedName) {
      send({ type: "password", password: el.password.value });
      el.password.value = "";
      state.askedPassword = false;
      return;
    }
    state.askedPassword = false;
    el.password.value = "";
    const name = el.name.value.trim();
    if (!name) return;
    state.wanted = name;
    if (!state.socket) {
      if (state.retryTimer) clearTimeout(state.retryTimer);
      connect();
      return;
    }
    send({ type: "name", name });
  });

  el.send.addEventListener("submit", (event) => {
    event.preventDefault();
    const typed = el.entry.value;
    if (!typed.trim()) return;
    let sent;
    const command = typed.trimStart();
    const action = /^\/me\s+(\S[\s\S]*)$/i.exec(command);
    const inRoom = state.current.startsWith("#");
    if (action && !inRoom) {
      system("Actions (/me) are for rooms: this conversation is private.", "system error");
      return;
    } else if (action) {
      sent = send({ type: "action", text: action[1] });
    } else if (command.startsWith("/") && !(command.startsWith("//") && !inRoom)) {
      sent = send({ type: "input", text: command });
    } else if (state.current && state.current.startsWith("@")) {
      const text = command.startsWith("//") ? command.slice(1) : typed;
      sent = send({ type: "private", to: privateName.get(state.current) || state.current.slice(1), text });
    } else {
      sent = send({ type: "say", text: typed });  // shown when the server echoes it
    }
    if (!sent) return;
    if (!/^\/(identify|register|password|unregister)\b/i.test(command)) {
      state.recalled.push(typed);
      if (state.recalled.length > RECALL) state.recalled.shift();
    }
    state.recallAt = state.recalled.length;
    el.entry.value = "";
  });

  el.entry.addEventListener("keydown", (event) => {
    if (event.altKey && (event.key === "ArrowUp" || event.key === "ArrowDown")) {
      event.preventDefault();
      const keys = [...el.rooms.querySelectorAll("button"), ...el.privates.querySelectorAll("button")].map((b) => b.dataset.view);
      const at = keys.indexOf(state.current);
      const next = keys[(at + (event.key === "ArrowUp" ? -1 : 1) + keys.length) % keys.length];
      if (next) choose(next);
      return;
    }
    if (event.key === "ArrowUp" && state.recallAt > 0 && !el.entry.value.includes("\n")) {
      if (el.entry.value && el.entry.value !== state.recalled[state.recallAt]) return;
      state.recallAt -= 1;
      el.entry.value = state.recalled[state.recallAt];
      event.preventDefault();
    } else if (event.key === "ArrowDown" && state.recallAt < state.recalled.length) {
      state.recallAt += 1;
      el.entry.value = state.recalled[state.recallAt] || "";
      event.preventDefault();
    }
  });

  function choose(key) {
    if (key.startsWith("#") && key.slice(1) !== state.room) {
      send({ type: "join", room: key.slice(1) });
      return;
    }
    show(key);
    el.entry.focus();
  }

  el.rooms.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (button) choose(button.dataset.view);
  });
  el.privates.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (button) choose(button.dataset.view);
  });
  el.joinRoom.addEventListener("submit", (event) => {
    event.preventDefault();
    const room = el.newRoom.value.trim().replace(/^#/, "");
    if (room) send({ type: "join", room });
    el.newRoom.value = "";
  });
  el.who.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button || button.dataset.name === state.me) return;
    const name = button.dataset.name;
    privateName.set(privateKey(name), name);
    view(privateKey(name));
    el.people.classList.remove("open");
    el.peopleToggle.setAttribute("aria-expanded", "false");
    show(privateKey(name));
    el.entry.focus();
  });
  el.peopleToggle.addEventListener("click", () => {
    const open = el.people.classList.toggle("open");
    el.peopleToggle.setAttribute("aria-expanded", String(open));
  });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && state.current) {
      const target = view(state.current);
      target.unread = 0;
      target.mentions = 0;
      drawViews();
    }
  });

  connect();
})();
