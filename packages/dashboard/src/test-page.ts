// The token test page: joins a session with the credentials in the URL fragment (never sent to the
// server), using only the public OpenTok.js API of the browser SDK loaded from /v2/js/opentok.js:
// OT.initSession, session.connect, OT.initPublisher, session.publish, session.subscribe on
// streamCreated, signals (to everyone or one participant), OT.on('exception'), and with a moderator
// token the moderation calls (forceMuteStream, forceMuteAll, forceUnpublish, forceDisconnect). Its
// state is on `window.colloquyTestPage` for tests.

import { h, replace } from './dom';
import './styles.css';

/** The part of the OpenTok.js public API this page uses. */
interface OTConnection {
  connectionId: string;
  data?: string;
}
interface OTStream {
  streamId: string;
  name?: string;
  videoType?: string;
  hasAudio?: boolean;
  hasVideo?: boolean;
  connection: OTConnection;
}
interface OTEvent {
  /** archiveStarted / archiveStopped */
  id?: string;
  name?: string;
  stream?: OTStream;
  connection?: OTConnection;
  reason?: string;
  type?: string;
  data?: string;
  from?: OTConnection | null;
}
interface OTError {
  name?: string;
  code?: number;
  message: string;
}
interface OTEmitter {
  on(type: string, handler: (event: OTEvent) => void): void;
}
interface OTPublisher extends OTEmitter {
  destroy(): void;
}
interface OTSubscriber extends OTEmitter {
  videoWidth?(): number;
}
interface OTSession extends OTEmitter {
  connection?: OTConnection;
  capabilities?: { publish?: number | boolean; subscribe?: number | boolean; forceDisconnect?: number | boolean; forceUnpublish?: number | boolean; forceMute?: number | boolean };
  connect(token: string, callback: (error?: OTError) => void): void;
  disconnect(): void;
  publish(publisher: OTPublisher, callback: (error?: OTError) => void): void;
  unpublish(publisher: OTPublisher): void;
  subscribe(stream: OTStream, target: HTMLElement, properties: Record<string, unknown>, callback: (error?: OTError) => void): OTSubscriber;
  signal(signal: { type?: string; data?: string; to?: OTConnection }, callback: (error?: OTError) => void): void;
  forceDisconnect(connection: OTConnection, callback: (error?: OTError) => void): void;
  forceUnpublish(stream: OTStream, callback: (error?: OTError) => void): void;
  forceMuteStream(stream: OTStream, callback: (error?: OTError) => void): void;
  forceMuteAll(excludedStreams: OTStream[], callback: (error?: OTError) => void): void;
}
interface OTGlobal {
  initSession(apiKey: string, sessionId: string): OTSession;
  initPublisher(target: HTMLElement, properties: Record<string, unknown>, callback: (error?: OTError) => void): OTPublisher;
  on?(type: string, handler: (event: OTError & { title?: string }) => void): void;
}

interface TestPageState {
  sdkLoaded: boolean;
  connected: boolean;
  connectionId: string | null;
  /** Whether the token's role may publish (from session.capabilities once connected). */
  canPublish: boolean | null;
  publishing: boolean;
  /** Subscribers whose media flows (their subscribe handler succeeded), now. */
  subscribers: number;
  signalsReceived: number;
  /** Whether the token's role may moderate (force mute, unpublish, disconnect). */
  moderator: boolean;
  /** Times a moderator muted this page's published audio. */
  mutesForced: number;
  /** Why the session ended (sessionDisconnected's reason), once it did. */
  disconnectReason: string | null;
  errors: string[];
}

declare global {
  interface Window {
    OT?: OTGlobal;
    colloquyTestPage: TestPageState;
  }
}

const state: TestPageState = {
  sdkLoaded: false,
  connected: false,
  connectionId: null,
  canPublish: null,
  publishing: false,
  subscribers: 0,
  signalsReceived: 0,
  moderator: false,
  mutesForced: 0,
  disconnectReason: null,
  errors: [],
};
window.colloquyTestPage = state;

const params = new URLSearchParams(location.hash.replace(/^#/, ''));
const apiKey = params.get('apiKey') ?? '';
const sessionId = params.get('sessionId') ?? '';
const token = params.get('token') ?? '';
const autoPublish = params.get('publish') !== '0';

const root = document.getElementById('app')!;
const status = h('p', { id: 'status', class: 'test-status' }, 'Starting…');
const lastError = h('div', { class: 'error-box', id: 'last-error', hidden: true });
const log = h('div', { class: 'test-log', id: 'log' });
const publisherTile = h('div', { class: 'tile', id: 'publisher-tile' });
/** "You" and your camera, shown while you publish (or are about to). */
const publisherSection = h('section', { hidden: true }, h('h2', null, 'You'), h('div', { class: 'test-grid' }, publisherTile));
const publisherBox = h('div', { class: 'tile-video', id: 'publisher' });
const subscribers = h('div', { class: 'test-grid', id: 'subscribers' });
const noStreams = h('p', { class: 'muted', id: 'no-streams' }, 'No one else is publishing in this session yet.');
const buttons = h('p', { class: 'actions' });
const signalType = h('input', { id: 'signal-type', value: 'test', maxlength: 128, 'aria-label': 'Signal type', size: 10 });
const signalData = h('input', { id: 'signal-data', value: 'hello from the test page', maxlength: 8192, 'aria-label': 'Signal data' });
/** The other participants, each with a signal button (and moderator controls with a moderator token). */
const participants = h('ul', { class: 'participants', id: 'participants' });

function write(line: string, isError = false): void {
  log.append(h('div', { class: isError ? 'err' : '' }, `${new Date().toLocaleTimeString(undefined, { hour12: false })}  ${line}`));
  log.scrollTop = log.scrollHeight;
  if (isError) {
    state.errors.push(line);
    lastError.textContent = line;
    lastError.hidden = false;
  }
}

function setStatus(text: string): void {
  status.textContent = text;
}

/** A name for a connection: `name=` in its token data, else the data, else the fallback. */
function nameOf(connection: OTConnection | undefined, fallback: string): string {
  const data = connection?.data ?? '';
  const named = /(?:^|[&;,\s])name=([^&;,]+)/.exec(data)?.[1]?.trim();
  return named || (data ? data.slice(0, 40) : fallback);
}

publisherTile.append(publisherBox);
root.append(
  h('header', { class: 'header' }, h('nav', { class: 'nav' }, h('span', { class: 'brand' }, 'Colloquy'), h('span', { class: 'muted-inverse' }, 'test page'))),
  h(
    'main',
    { class: 'main' },
    h('p', { class: 'muted small' }, 'Session ', h('code', { class: 'wrap' }, sessionId || '—')),
    status,
    buttons,
    lastError,
    h('p', { class: 'signal-form' }, 'Signal ', signalType, signalData),
    publisherSection,
    h('h2', null, 'Others'),
    noStreams,
    subscribers,
    h('h2', null, 'Participants'),
    participants,
    h('h2', null, 'Log'),
    log,
  ),
);

function start(): void {
  if (!apiKey || !sessionId || !token) {
    setStatus('This page needs #apiKey=…&sessionId=…&token=… in its address: open it from the dashboard’s Demo tokens page.');
    return;
  }
  const OT = window.OT;
  if (!OT) {
    setStatus('The browser SDK (/v2/js/opentok.js) is not available on this server.');
    write('OT is not defined: /v2/js/opentok.js did not load', true);
    return;
  }
  state.sdkLoaded = true;
  OT.on?.('exception', (e) => write(`exception ${e.code ?? ''} ${e.title ?? ''}: ${e.message}`, true));
  const session = OT.initSession(apiKey, sessionId);
  let publisher: OTPublisher | null = null;
  const showOthers = () => (noStreams.hidden = subscribers.children.length > 0);

  const can = (action: 'forceDisconnect' | 'forceUnpublish' | 'forceMute') => Boolean(session.capabilities?.[action]);
  /** Runs one SDK call that takes a completion handler, and logs how it ended. */
  const act = (what: string, call: (done: (error?: OTError) => void) => void) =>
    call((err) => {
      if (err) write(`${what} failed: ${err.name ?? ''} ${err.message}`, true);
      else write(`${what}: done`);
    });
  const signalTo = (to?: OTConnection) =>
    act(to ? `signal to ${to.connectionId}` : 'signal to everyone', (done) =>
      session.signal({ type: signalType.value || undefined, data: signalData.value, ...(to ? { to } : {}) }, done),
    );

  const addParticipant = (connection: OTConnection) => {
    const row = h(
      'li',
      { 'data-connection-id': connection.connectionId },
      h('span', null, nameOf(connection, 'someone')),
      h('code', { class: 'muted small' }, connection.connectionId),
      h('button', { type: 'button', class: 'signal-to', onclick: () => signalTo(connection) }, 'Signal'),
      can('forceDisconnect') ? h('button', { type: 'button', class: 'force-disconnect danger', onclick: () => act(`forceDisconnect ${connection.connectionId}`, (done) => session.forceDisconnect(connection, done)) }, 'Disconnect') : null,
    );
    participants.append(row);
  };

  session.on('connectionCreated', (e) => {
    if (!e.connection || e.connection.connectionId === session.connection?.connectionId) return;
    write(`connectionCreated ${e.connection.connectionId} ${e.connection.data ?? ''}`);
    addParticipant(e.connection);
  });
  session.on('connectionDestroyed', (e) => {
    write(`connectionDestroyed ${e.connection?.connectionId ?? ''} (${e.reason ?? ''})`);
    participants.querySelector(`[data-connection-id="${CSS.escape(e.connection?.connectionId ?? '')}"]`)?.remove();
  });
  session.on('sessionDisconnected', (e) => {
    state.connected = false;
    state.publishing = false;
    state.subscribers = 0;
    state.disconnectReason = e.reason ?? 'unknown';
    publisher = null;
    publisherSection.hidden = true;
    replace(subscribers);
    replace(participants);
    showOthers();
    setStatus(`Disconnected (${e.reason ?? 'unknown reason'}). Reload the page to join again.`);
    write(`sessionDisconnected ${e.reason ?? ''}`);
    for (const b of buttons.querySelectorAll('button')) b.disabled = true;
  });
  session.on('archiveStarted', (e) => write(`archiveStarted ${e.id ?? ''} ${e.name ?? ''}: this session is being recorded`));
  session.on('archiveStopped', (e) => write(`archiveStopped ${e.id ?? ''}`));
  session.on('sessionReconnecting', () => write('sessionReconnecting'));
  session.on('sessionReconnected', () => write('sessionReconnected'));
  session.on('streamCreated', (e) => {
    const stream = e.stream!;
    write(`streamCreated ${stream.streamId} (${stream.videoType ?? 'audio only'}) from ${stream.connection.connectionId}`);
    // The SDK draws the stream's name over its video.
    const video = h('div', { class: 'tile-video' });
    const tile = h(
      'div',
      { class: 'tile', 'data-stream-id': stream.streamId },
      video,
      can('forceMute') || can('forceUnpublish')
        ? h(
            'div',
            { class: 'tile-actions' },
            can('forceMute') ? h('button', { type: 'button', class: 'force-mute', onclick: () => act(`forceMuteStream ${stream.streamId}`, (done) => session.forceMuteStream(stream, done)) }, 'Mute') : null,
            can('forceUnpublish') ? h('button', { type: 'button', class: 'force-unpublish', onclick: () => act(`forceUnpublish ${stream.streamId}`, (done) => session.forceUnpublish(stream, done)) }, 'Stop stream') : null,
          )
        : null,
    );
    subscribers.append(tile);
    showOthers();
    let connected = false;
    const subscriber = session.subscribe(stream, video, { insertMode: 'append', width: '100%', height: '100%' }, (err) => {
      if (err) {
        write(`subscribe to ${stream.streamId} failed: ${err.name ?? ''} ${err.message}`, true);
        return;
      }
      connected = true;
      state.subscribers++;
      write(`subscribed to ${stream.streamId}`);
    });
    subscriber.on('destroyed', () => {
      if (connected) state.subscribers--;
      connected = false;
    });
  });
  session.on('streamDestroyed', (e) => {
    write(`streamDestroyed ${e.stream?.streamId ?? ''} (${e.reason ?? ''})`);
    subscribers.querySelector(`[data-stream-id="${CSS.escape(e.stream?.streamId ?? '')}"]`)?.remove();
    showOthers();
  });
  session.on('streamPropertyChanged', (e) => {
    const changed = e as OTEvent & { changedProperty?: string; newValue?: unknown };
    write(`streamPropertyChanged ${e.stream?.streamId ?? ''} ${changed.changedProperty ?? ''}=${String(changed.newValue)}`);
  });
  session.on('signal', (e) => {
    state.signalsReceived++;
    write(`signal ${e.type ?? ''} from ${e.from?.connectionId ?? 'the server'}: ${e.data ?? ''}`);
  });

  const publishButton = h('button', { id: 'publish', class: 'primary' }, 'Publish');
  const unpublishButton = h('button', { id: 'unpublish', disabled: true }, 'Unpublish');
  const showPublishing = (on: boolean) => {
    state.publishing = on;
    publishButton.disabled = on || !state.connected;
    unpublishButton.disabled = !on || !state.connected;
  };

  const publish = () => {
    if (publisher) return;
    publishButton.disabled = true;
    publisherSection.hidden = false;
    const p = OT.initPublisher(publisherBox, { insertMode: 'append', width: '100%', height: '100%', name: nameOf(session.connection, 'Test page') }, (err) => {
      if (err) write(`initPublisher failed: ${err.name ?? ''} ${err.message}`, true);
    });
    publisher = p;
    p.on('muteForced', () => {
      state.mutesForced++;
      write('a moderator muted your audio');
    });
    p.on('streamDestroyed', (e) => {
      write(`your stream ended (${e.reason ?? ''})`);
      if (publisher === p) publisher = null;
      showPublishing(false);
      publisherSection.hidden = true;
    });
    session.publish(p, (err) => {
      if (err) {
        // Nothing is sent: drop the camera so the button can try again.
        write(`publish failed: ${err.name ?? ''} ${err.message}`, true);
        p.destroy();
        if (publisher === p) publisher = null;
        publisherSection.hidden = true;
        showPublishing(false);
        return;
      }
      showPublishing(true);
      write('publishing');
    });
  };
  const unpublish = () => {
    if (!publisher) return;
    const p = publisher;
    publisher = null;
    session.unpublish(p);
    p.destroy();
    showPublishing(false);
    publisherSection.hidden = true;
    write('unpublished');
  };

  replace(
    buttons,
    publishButton,
    unpublishButton,
    h('button', { id: 'send-signal', onclick: () => signalTo() }, 'Signal everyone'),
    h('button', { id: 'disconnect', onclick: () => session.disconnect() }, 'Disconnect'),
  );
  const muteAll = h('button', { id: 'force-mute-all', hidden: true, onclick: () => act('forceMuteAll', (done) => session.forceMuteAll([], done)) }, 'Mute everyone');
  buttons.append(muteAll);

  publishButton.addEventListener('click', publish);
  unpublishButton.addEventListener('click', unpublish);
  for (const b of buttons.querySelectorAll('button')) b.disabled = true;

  setStatus('Connecting…');
  session.connect(token, (err) => {
    if (err) {
      setStatus(`Could not connect: ${err.message}`);
      write(`connect failed: ${err.name ?? ''} ${err.message}`, true);
      return;
    }
    state.connected = true;
    state.connectionId = session.connection?.connectionId ?? null;
    const caps = session.capabilities;
    state.canPublish = caps?.publish === undefined || Boolean(caps.publish);
    const canSubscribe = caps?.subscribe === undefined || Boolean(caps.subscribe);
    const who = session.connection?.data ? ` (${session.connection.data})` : '';
    setStatus(`Connected as ${state.connectionId ?? '?'}${who} · publish: ${state.canPublish ? 'allowed' : 'not allowed'} · subscribe: ${canSubscribe ? 'allowed' : 'not allowed'}`);
    state.moderator = can('forceDisconnect');
    muteAll.hidden = !can('forceMute');
    write(`connected${state.moderator ? ' as a moderator: force mute, stop stream and disconnect are on the others' : ''}`);
    for (const b of buttons.querySelectorAll('button')) b.disabled = b === unpublishButton;
    if (!state.canPublish) {
      // Left enabled on purpose: trying shows how the server refuses (OT_PERMISSION_DENIED).
      publishButton.className = '';
      publishButton.title = "This token's role may not publish: the server will refuse";
    }
    if (autoPublish && state.canPublish) publish();
  });
}

start();
