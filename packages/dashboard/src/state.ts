// The project the pages work on, chosen in the header and remembered in this browser.

import { api, type ProjectSummary } from './api';

const KEY = 'colloquy.project';
let projects: ProjectSummary[] = [];

export async function refreshProjects(): Promise<ProjectSummary[]> {
  projects = await api<ProjectSummary[]>('GET', '/projects');
  return projects;
}

export function knownProjects(): ProjectSummary[] {
  return projects;
}

export function currentProjectId(): string | null {
  const saved = localStorage.getItem(KEY);
  if (saved && projects.some((p) => p.id === saved)) return saved;
  return projects[0]?.id ?? null;
}

export function setCurrentProject(id: string): void {
  localStorage.setItem(KEY, id);
}
