// #region state
// The video chat page: join a room by name, see and hear everyone in a grid, mute, share your
// screen, chat, leave. It uses only OpenTok.js's public API, through the global OT defined by the
// SDK that index.html loads from the Colloquy server.

const $ = (id) => document.getElementById(id);

let session = null; // the OT.Session of the room we are in
let publisher = null; // our camera and microphone, while we publish them
let screenPublisher = null; // our screen, while we share it
let myName = '';
const sending = { audio: true, video: true }; // what our camera publisher sends
const tiles = new Map(); // stream ID -> its tile in the grid
const people = new Map(); // connection ID -> name, everyone in the room (us included)
// #endregion

// #region join
$('room').value = new URLSearchParams(location.search).get('room') ?? '';
$('name').value = localStorage.getItem('video-chat-name') ?? '';

$('join').addEventListener('submit', async (event) => {
  event.preventDefault();
  hideBanner();
  $('join-button').disabled = true;
  try {
    const credentials = await requestJoin($('room').value.trim(), $('name').value.trim());
    localStorage.setItem('video-chat-name', credentials.displayName);
    history.replaceState(null, '', `?room=${encodeURIComponent(credentials.room)}`); // a link to share
    joinRoom(credentials);
  } catch (error) {
    showBanner(error.message);
  } finally {
    $('join-button').disabled = false;
  }
});

/** Asks our app server for the room's session ID and a token: {apiKey, sessionId, token, room, displayName}. */
async function requestJoin(room, displayName) {
  let response;
  try {
    response = await fetch(`api/rooms/${encodeURIComponent(room)}/join`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ displayName }),
    });
  } catch {
    throw new Error('Cannot reach the app server. Check your network and try again.');
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error ?? `The app server answered ${response.status}.`);
  return body;
}
// #endregion

// #region connect
function joinRoom({ apiKey, sessionId, token, room, displayName }) {
  myName = displayName;
  session = OT.initSession(apiKey, sessionId);
  session.on({
    streamCreated: (event) => subscribe(event.stream),
    streamDestroyed: (event) => removeTile(tiles.get(event.stream.streamId)),
    streamPropertyChanged: (event) => updateTile(event.stream),
    connectionCreated: (event) => {
      people.set(event.connection.connectionId, nameOf(event.connection));
      showPeople();
    },
    connectionDestroyed: (event) => {
      people.delete(event.connection.connectionId);
      showPeople();
    },
    'signal:chat': (event) => showMessage(event),
    sessionReconnecting: () => showBanner('Connection lost. Reconnecting…'),
    sessionReconnected: () => hideBanner(),
    sessionDisconnected: (event) => leftRoom(event.reason),
  });
  $('join').hidden = true;
  $('call').hidden = false;
  $('room-title').textContent = room;
  session.connect(token, (error) => {
    if (error) {
      leftRoom();
      showBanner(
        error.name === 'OT_CONNECT_FAILED'
          ? 'Cannot reach the video server. Is Colloquy running? Try again in a moment.'
          : `Could not join the room: ${error.message} (${error.name}).`,
      );
      return;
    }
    publishCamera();
  });
}

/** Our app server put {"name": …} in each token's connection data; the server vouches for it. */
function nameOf(connection) {
  if (!connection) return 'Announcement'; // a signal sent by an app server, not by a person
  try {
    return JSON.parse(connection.data).name || 'Guest';
  } catch {
    return 'Guest';
  }
}

function showPeople() {
  $('people').textContent = people.size === 1 ? 'Only you are here' : `${people.size} people here`;
  $('people').title = [...people.values()].join(', ');
}
// #endregion

// #region grid
/** A tile is a box in the grid that the SDK puts one Publisher's or Subscriber's video in. */
function addTile(label, { mine = false, screen = false } = {}) {
  const tile = document.createElement('div');
  tile.className = 'tile';
  tile.dataset.label = label; // style.css shows it over the video
  if (mine) tile.dataset.mine = '';
  if (screen) tile.dataset.screen = '';
  $('grid').append(tile);
  layOutGrid();
  return tile;
}

function removeTile(tile) {
  if (!tile) return;
  tile.remove();
  tiles.delete(tile.dataset.streamId);
  layOutGrid();
}

/** 1 tile: one column; 2-4: two; 5-9: three; more: four (style.css: fewer on narrow screens). */
function layOutGrid() {
  const count = $('grid').children.length;
  $('grid').dataset.columns = count <= 1 ? 1 : count <= 4 ? 2 : count <= 9 ? 3 : 4;
}

/** The mute badges: style.css shows one when a stream's audio or video is off. */
function updateTile(stream) {
  const tile = tiles.get(stream.streamId);
  if (!tile) return;
  if (stream.videoType !== 'screen') tile.dataset.audio = stream.hasAudio ? 'on' : 'off'; // a screen has no sound
  tile.dataset.video = stream.hasVideo ? 'on' : 'off';
}
// #endregion

// #region subscribe
function subscribe(stream) {
  const screen = stream.videoType === 'screen';
  const name = nameOf(stream.connection);
  const tile = addTile(screen ? `${name}'s screen` : name, { screen });
  tile.dataset.streamId = stream.streamId;
  tiles.set(stream.streamId, tile);
  updateTile(stream);
  const properties = {
    insertMode: 'append',
    width: '100%',
    height: '100%',
    fitMode: screen ? 'contain' : 'cover', // show all of a screen, fill the tile with a face
    style: { nameDisplayMode: 'off' }, // the tile shows the name from the connection data instead
  };
  session.subscribe(stream, tile, properties, (error) => {
    if (error) showBanner(`Cannot show ${name}'s ${screen ? 'screen' : 'video'}: ${error.message}`);
  });
}
// #endregion

// #region publish
function publishCamera() {
  const tile = addTile(`${myName} (you)`, { mine: true });
  sending.audio = true;
  sending.video = true;
  const properties = { insertMode: 'append', width: '100%', height: '100%', name: myName, style: { nameDisplayMode: 'off' } };
  const camera = OT.initPublisher(tile, properties, (error) => {
    if (camera !== publisher) return; // we left the room while the browser was asking
    if (error) {
      camera.destroy();
      cameraFailed(error);
      return;
    }
    session.publish(camera, (error) => {
      if (error) return showBanner(`Cannot send your video: ${error.message}`);
      tile.dataset.streamId = camera.stream.streamId;
      tiles.set(camera.stream.streamId, tile);
      updateTile(camera.stream);
    });
  });
  publisher = camera;
  camera.on('destroyed', () => {
    removeTile(tile);
    if (publisher === camera) publisher = null;
    showControls();
  });
  // A moderator (or your app server through the REST API) muted everyone.
  camera.on('muteForced', () => {
    sending.audio = false;
    showControls();
    showBanner('You were muted.');
  });
  showControls();
}

/** Without a camera or microphone you can still watch, listen and chat: you stay in the room. */
function cameraFailed(error) {
  const reasons = {
    OT_USER_MEDIA_ACCESS_DENIED: 'Camera and microphone are blocked for this page',
    OT_NO_DEVICES_FOUND: 'No camera or microphone was found',
    OT_HARDWARE_UNAVAILABLE: 'Your camera or microphone is in use by another app',
  };
  const reason = reasons[error.name] ?? `Your camera could not start (${error.name})`;
  showBanner(`${reason}. You are in the room as a viewer: others cannot see or hear you.`, {
    label: 'Try again',
    onClick: () => session && !publisher && publishCamera(),
  });
}
// #endregion

// #region controls
$('mic').addEventListener('click', () => {
  sending.audio = !sending.audio;
  publisher.publishAudio(sending.audio);
  showControls();
});

$('camera').addEventListener('click', () => {
  sending.video = !sending.video;
  publisher.publishVideo(sending.video);
  showControls();
});

function showControls() {
  $('mic').disabled = !publisher;
  $('camera').disabled = !publisher;
  $('mic').textContent = sending.audio ? 'Mute' : 'Unmute';
  $('camera').textContent = sending.video ? 'Stop video' : 'Start video';
  $('mic').setAttribute('aria-pressed', String(!sending.audio));
  $('camera').setAttribute('aria-pressed', String(!sending.video));
  $('screen').textContent = screenPublisher ? 'Stop sharing' : 'Share screen';
  $('screen').setAttribute('aria-pressed', String(Boolean(screenPublisher)));
}
// #endregion

// #region screen
$('screen').addEventListener('click', () => (screenPublisher ? screenPublisher.destroy() : shareScreen()));

function shareScreen() {
  OT.checkScreenSharingCapability((response) => {
    if (!response.supported) return showBanner('This browser cannot share its screen.');
    const tile = addTile(`${myName}'s screen (you)`, { mine: true, screen: true });
    const properties = {
      videoSource: 'screen',
      audioSource: null, // your voice already goes with your camera
      insertMode: 'append',
      width: '100%',
      height: '100%',
      fitMode: 'contain',
      name: `${myName}'s screen`,
      style: { nameDisplayMode: 'off' },
    };
    const share = OT.initPublisher(tile, properties, (error) => {
      if (share !== screenPublisher) return; // sharing was stopped meanwhile
      if (error) {
        share.destroy();
        // Cancelling the browser's "choose what to share" dialog is a refusal too: nothing to say.
        if (error.name !== 'OT_USER_MEDIA_ACCESS_DENIED') showBanner(`Cannot share your screen: ${error.message}`);
        return;
      }
      session.publish(share, (error) => {
        if (error) showBanner(`Cannot share your screen: ${error.message}`);
      });
    });
    screenPublisher = share;
    // Also when the browser's own "Stop sharing" button ends the capture.
    share.on('destroyed', () => {
      removeTile(tile);
      if (screenPublisher === share) screenPublisher = null;
      showControls();
    });
    showControls();
  });
}
// #endregion

// #region chat
$('chat-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const text = $('chat-input').value.trim();
  if (!text) return;
  $('chat-input').value = '';
  // Everyone in the session gets the signal, we too: the message shows when it comes back.
  session.signal({ type: 'chat', data: text }, (error) => {
    if (error) showBanner(`Not sent (${error.name}): ${text}`);
  });
});

function showMessage(event) {
  const mine = event.from?.connectionId === session.connection.connectionId;
  const who = document.createElement('strong');
  who.textContent = mine ? 'You' : nameOf(event.from);
  const item = document.createElement('li');
  item.append(who, ' ', event.data); // appended as text: a message can never become HTML
  $('messages').append(item);
  item.scrollIntoView({ block: 'nearest' });
}
// #endregion

// #region leave
$('leave').addEventListener('click', () => session.disconnect());

/** Back to the join form, whether we left, were disconnected, or never got in. */
function leftRoom(reason) {
  screenPublisher?.destroy();
  publisher?.destroy();
  session = null;
  tiles.clear();
  people.clear();
  $('grid').replaceChildren();
  $('messages').replaceChildren();
  $('call').hidden = true;
  $('join').hidden = false;
  if (reason === 'networkDisconnected') showBanner('Your connection to the room was lost.');
  if (reason === 'forceDisconnected') showBanner('You were removed from the room.');
}
// #endregion

// #region banner
/** One message at a time at the top of the page, with an optional button. */
function showBanner(message, action) {
  $('banner-text').textContent = message;
  $('banner-action').hidden = !action;
  if (action) {
    $('banner-action').textContent = action.label;
    $('banner-action').onclick = () => {
      hideBanner();
      action.onClick();
    };
  }
  $('banner').hidden = false;
}

function hideBanner() {
  $('banner').hidden = true;
}

$('banner-close').addEventListener('click', hideBanner);

if (typeof OT === 'undefined') {
  // index.html could not load the SDK: the Colloquy server is down or its address is wrong.
  showBanner('The video SDK did not load from the Colloquy server. Is it running? Reload to try again.');
  $('join-button').disabled = true;
}
// #endregion
