// The typed event emitter every domain object emits through. It is the SFU's (@colloquy/sfu, the
// lowest package that needs it), re-exported so that server code imports it from here and one
// `TypedEmitter.listenerError` handler covers media objects and sessions alike.

export { TypedEmitter, reportListenerError, type EventMap, type ListenerErrorHandler } from '@colloquy/sfu';
