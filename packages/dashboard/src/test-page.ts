// The token test page: joins a session with the credentials in the URL fragment (never sent to the
// server), using only the public OpenTok.js API of the browser SDK loaded from /v2/js/opentok.js:
// OT.initSession, session.connect, OT.initPublisher, session.publish, session.subscribe on
// streamCreated, signals. Its state is on `window.colloquyTestPage` for browser tests.

import { h, replace } from './dom';
import './styles.css';

/** The part of the OpenTok.js public API this page uses. */
interface OTEvent {
  stream?: OTStream;
  connection?: { connectionId: string; data?: string };
  reason?: string;
  type?: string;
  data?: string;
  from?: { connectionId: string } | null;
}
interface OTStream {
  streamId: string;
  name?: string;
  connection: { connectionId: string };
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
interface OTSession extends OTEmitter {
  connection?: { connectionId: string };
  capabilities?: { publish?: number | boolean };
  connect(token: string, callback: (error?: OTError) => void): void;
  disconnect(): void;
  publish(publisher: OTPublisher, callback: (error?: OTError) => void): void;
  unpublish(publisher: OTPublisher): void;
  subscribe(stream: OTStream, target: HTMLElement, properties: Record<string, unknown>, callback: (error?: OTError) => void): unknown;
  signal(signal: { type?: string; data?: string }, callback: (error?: OTError) => void): void;
}
interface OTGlobal {
  initSession(apiKey: string, sessionId: string): OTSession;
  initPublisher(target: HTMLElement, properties: Record<string, unknown>, callback: (error?: OTError) => void): OTPublisher;
  on?(type: string, handler: (event: OTError) => void): void;
}

interface TestPageState {
  sdkLoaded: boolean;
  connected: boolean;
  connectionId: string | null;
  publishing: boolean;
  subscribers: number;
  signalsReceived: number;
  errors: string[];
}

declare global {
  interface Window {
    OT?: OTGlobal;
    colloquyTestPage: TestPageState;
  }
}

const state: TestPageState = { sdkLoaded: false, connected: false, connectionId: null, publishing: false, subscribers: 0, signalsReceived: 0, errors: [] };
window.colloquyTestPage = state;

const params = new URLSearchParams(location.hash.replace(/^#/, ''));
const apiKey = params.get('apiKey') ?? '';
const sessionId = params.get('sessionId') ?? '';
const token = params.get('token') ?? '';
const autoPublish = params.get('publish') !== '0';

const root = document.getElementById('app')!;
const status = h('p', { id: 'status' }, 'Starting…');
const log = h('div', { class: 'test-log', id: 'log' });
const publisherBox = h('div', { id: 'publisher' });
const subscribers = h('div', { class: 'test-grid', id: 'subscribers' });
const buttons = h('p', { class: 'actions' });

function write(line: string, isError = false): void {
  log.append(h('div', { class: isError ? 'err' : '' }, `${new Date().toLocaleTimeString(undefined, { hour12: false })}  ${line}`));
  log.scrollTop = log.scrollHeight;
  if (isError) state.errors.push(line);
}

function setStatus(text: string): void {
  status.textContent = text;
}

root.append(
  h(
    'main',
    { class: 'main' },
    h('h1', null, 'Colloquy test page'),
    h('p', { class: 'muted' }, 'Session ', h('code', { class: 'wrap' }, sessionId || '—')),
    status,
    buttons,
    h('div', { class: 'test-grid' }, publisherBox),
    h('h2', null, 'Subscribers'),
    subscribers,
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
  OT.on?.('exception', (e) => write(`exception ${e.code ?? ''} ${e.message}`, true));
  const session = OT.initSession(apiKey, sessionId);
  let publisher: OTPublisher | null = null;

  session.on('connectionCreated', (e) => write(`connectionCreated ${e.connection?.connectionId ?? ''} ${e.connection?.data ?? ''}`));
  session.on('connectionDestroyed', (e) => write(`connectionDestroyed ${e.connection?.connectionId ?? ''} (${e.reason ?? ''})`));
  session.on('sessionDisconnected', (e) => {
    state.connected = false;
    setStatus(`Disconnected (${e.reason ?? 'unknown reason'})`);
    write(`sessionDisconnected ${e.reason ?? ''}`);
  });
  session.on('streamCreated', (e) => {
    const stream = e.stream!;
    write(`streamCreated ${stream.streamId} from ${stream.connection.connectionId}`);
    const box = h('div', { 'data-stream-id': stream.streamId });
    subscribers.append(box);
    session.subscribe(stream, box, { insertMode: 'append', width: '100%', height: '100%' }, (err) => {
      if (err) write(`subscribe failed: ${err.message}`, true);
      else {
        state.subscribers++;
        write(`subscribed to ${stream.streamId}`);
      }
    });
  });
  session.on('streamDestroyed', (e) => {
    write(`streamDestroyed ${e.stream?.streamId ?? ''} (${e.reason ?? ''})`);
    subscribers.querySelector(`[data-stream-id="${CSS.escape(e.stream?.streamId ?? '')}"]`)?.remove();
  });
  session.on('signal', (e) => {
    state.signalsReceived++;
    write(`signal ${e.type ?? ''} from ${e.from?.connectionId ?? 'server'}: ${e.data ?? ''}`);
  });

  const publish = () => {
    if (publisher) return;
    publisher = OT.initPublisher(publisherBox, { insertMode: 'append', width: '100%', height: '100%', name: 'test page' }, (err) => {
      if (err) write(`initPublisher failed: ${err.message}`, true);
    });
    session.publish(publisher, (err) => {
      if (err) {
        write(`publish failed: ${err.message}`, true);
        return;
      }
      state.publishing = true;
      write('publishing');
    });
  };
  const unpublish = () => {
    if (!publisher) return;
    session.unpublish(publisher);
    publisher.destroy();
    publisher = null;
    state.publishing = false;
    write('unpublished');
  };

  replace(
    buttons,
    h('button', { id: 'publish', onclick: publish }, 'Publish'),
    h('button', { id: 'unpublish', onclick: unpublish }, 'Unpublish'),
    h('button', { id: 'send-signal', onclick: () => session.signal({ type: 'test', data: 'hello from the test page' }, (err) => err && write(`signal failed: ${err.message}`, true)) }, 'Send signal'),
    h('button', { id: 'disconnect', onclick: () => session.disconnect() }, 'Disconnect'),
  );

  setStatus('Connecting…');
  session.connect(token, (err) => {
    if (err) {
      setStatus(`Could not connect: ${err.message}`);
      write(`connect failed: ${err.name ?? ''} ${err.message}`, true);
      return;
    }
    state.connected = true;
    state.connectionId = session.connection?.connectionId ?? null;
    setStatus(`Connected as ${state.connectionId ?? '?'}`);
    write('connected');
    const canPublish = session.capabilities?.publish === undefined || Boolean(session.capabilities.publish);
    if (autoPublish && canPublish) publish();
  });
}

start();
