import { MemorySessionStore } from './store.js';
import { sessionStoreContract } from './store-contract.js';

sessionStoreContract({ name: 'memory', make: (clock) => Promise.resolve(new MemorySessionStore({ now: clock })) });
