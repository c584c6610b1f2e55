// What each token role may do. The server enforces these; the client only reflects them
// (session.capabilities). The permission strings are the ones OpenTok.js recognises (reference §3d).

import type { Role } from '@colloquy/tokens';

export type Permission = 'publish' | 'subscribe' | 'signal' | 'forcedisconnect' | 'forceunpublish' | 'forcemute';

const PERMISSIONS: Record<Role, readonly Permission[]> = {
  subscriber: ['subscribe', 'signal'],
  publisheronly: ['publish', 'signal'],
  publisher: ['publish', 'subscribe', 'signal'],
  moderator: ['publish', 'subscribe', 'signal', 'forcedisconnect', 'forceunpublish', 'forcemute'],
};

export function permissionsOf(role: Role): readonly Permission[] {
  return PERMISSIONS[role];
}

export function can(role: Role, permission: Permission): boolean {
  return PERMISSIONS[role].includes(permission);
}
