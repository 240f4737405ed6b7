import {
  type BrokerCredentials,
  type CredentialStore,
  createLotCredentials,
  loadCredentialStore,
  MemoryCredentialStore,
  saveCredentialStore,
} from './credentials.js';

/**
 * The embedded broker's accounts, kept in a file in the cloud's data folder. A lot account added by
 * `npm run cloud:lot-credentials` (another process) is picked up at that lot's first connect: an
 * unknown username re-reads the file, so provisioning needs no broker restart.
 */
export class FileCredentialStore implements CredentialStore {
  #store: MemoryCredentialStore;
  constructor(
    readonly path: string,
    store: MemoryCredentialStore,
  ) {
    this.#store = store;
  }

  /** Opens (or creates) the file and makes sure `ensure` accounts exist with these passwords. */
  static async open(path: string, ensure: readonly BrokerCredentials[] = []): Promise<FileCredentialStore> {
    const store = await loadOrEmpty(path);
    let changed = false;
    for (const account of ensure) {
      if (!(await store.verify(account.username, account.password))) {
        await store.set(account.username, account.password);
        changed = true;
      }
    }
    if (changed) await saveCredentialStore(store, path);
    return new FileCredentialStore(path, store);
  }

  has(username: string): boolean {
    return this.#store.has(username);
  }

  async verify(username: string, password: string | Uint8Array): Promise<boolean> {
    if (!this.#store.has(username)) this.#store = await loadOrEmpty(this.path);
    return this.#store.verify(username, password);
  }
}

/** Adds (or replaces) a lot's account in the file and returns its password, shown once. */
export async function provisionLotAccount(path: string, lotId: string): Promise<BrokerCredentials> {
  const store = await loadOrEmpty(path);
  const credentials = createLotCredentials(lotId);
  await store.set(credentials.username, credentials.password);
  await saveCredentialStore(store, path);
  return credentials;
}

async function loadOrEmpty(path: string): Promise<MemoryCredentialStore> {
  try {
    return await loadCredentialStore(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new MemoryCredentialStore();
    throw err;
  }
}
