// The dashboard's entry: checks the sign-in, draws the frame (navigation, project picker) and
// hands the main area to the page the URL names.

import { api, loadMe, setCsrfToken, setSignedOutHandler } from './api';
import { h, replace } from './dom';
import { archivesPage } from './pages/archives';
import { broadcastPlayerPage, broadcastsPage } from './pages/broadcasts';
import { inspectorListPage, inspectorSessionPage } from './pages/inspector';
import { liveListPage, liveSessionPage } from './pages/live';
import { loginPage } from './pages/login';
import { projectPage, projectsPage } from './pages/projects';
import { tokensPage } from './pages/tokens';
import { currentPath, link, match, navigate, route, type Cleanup } from './router';
import { currentProjectId, knownProjects, refreshProjects, setCurrentProject } from './state';
import './styles.css';

route('/login', loginPage);
route('/projects', projectsPage);
route('/projects/:id', projectPage);
route('/tokens', tokensPage);
route('/live', liveListPage);
route('/live/:project/:sid', liveSessionPage);
route('/inspector', inspectorListPage);
route('/inspector/:project/:sid', inspectorSessionPage);
route('/archives', archivesPage);
route('/broadcasts', broadcastsPage);
route('/broadcasts/:project/:id', broadcastPlayerPage);

const root = document.getElementById('app')!;
const nav = h('nav', { class: 'nav' });
const main = h('main', { class: 'main' });
let cleanup: Cleanup | void = undefined;
let renderId = 0;

const SECTIONS: Array<[string, string]> = [
  ['/projects', 'Projects'],
  ['/tokens', 'Demo tokens'],
  ['/live', 'Live sessions'],
  ['/inspector', 'Inspector'],
  ['/archives', 'Archives'],
  ['/broadcasts', 'Broadcasts'],
];

function drawNav(signedIn: boolean): void {
  if (!signedIn) {
    replace(nav, h('span', { class: 'brand' }, 'Colloquy'));
    return;
  }
  const path = currentPath();
  const select = h(
    'select',
    {
      id: 'project-picker',
      'aria-label': 'Project',
      onchange: (e: Event) => {
        setCurrentProject((e.target as HTMLSelectElement).value);
        void render();
      },
    },
    knownProjects().map((p) => h('option', { value: p.id, selected: p.id === currentProjectId() }, `${p.name} (${p.id.length > 12 ? p.id.slice(0, 8) + '…' : p.id})`)),
  );
  replace(
    nav,
    h('a', { class: 'brand', href: link('/projects') }, 'Colloquy'),
    SECTIONS.map(([to, label]) => h('a', { href: link(to), class: path.startsWith(to) ? 'active' : '' }, label)),
    // The tutorial app the server serves beside the dashboard (examples/video-chat).
    h('a', { href: '/video-chat/', target: '_blank', rel: 'noopener', id: 'video-chat-link' }, 'Video chat ↗'),
    h('span', { class: 'spacer' }),
    knownProjects().length > 0 ? h('label', { class: 'picker' }, 'Project ', select) : null,
    h(
      'button',
      {
        class: 'link',
        id: 'sign-out',
        onclick: async () => {
          await api('POST', '/logout').catch(() => {});
          setCsrfToken(null);
          navigate('/login');
        },
      },
      'Sign out',
    ),
  );
}

async function render(): Promise<void> {
  const id = ++renderId;
  if (typeof cleanup === 'function') cleanup();
  cleanup = undefined;
  const path = currentPath();
  const signedIn = await loadMe();
  if (id !== renderId) return;
  if (!signedIn && path !== '/login') {
    navigate('/login');
    return;
  }
  if (signedIn && (path === '/login' || path === '/')) {
    navigate('/projects');
    return;
  }
  if (signedIn) await refreshProjects();
  if (id !== renderId) return;
  drawNav(signedIn);
  const found = match(path);
  replace(main, h('p', { class: 'muted' }, 'Loading…'));
  if (!found) {
    replace(main, h('h1', null, 'Not found'), h('p', null, 'No page at ', h('code', null, path)));
    return;
  }
  try {
    const result = await found.page(main, found.params);
    if (id === renderId) cleanup = result;
    else if (typeof result === 'function') result();
  } catch (err) {
    if (id !== renderId) return;
    replace(main, h('div', { class: 'error-box' }, (err as Error).message));
  }
}

setSignedOutHandler(() => navigate('/login'));
window.addEventListener('hashchange', () => void render());
root.append(h('header', { class: 'header' }, nav), main);
void render();
