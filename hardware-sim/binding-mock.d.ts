/**
 * Types for `@serialport/binding-mock` 10.x. The package ships them (dist/index.d.ts) but its
 * export map sends ESM importers to index-esm.mjs with no types next to it, so NodeNext cannot see
 * them. This mirrors the part we use, expressed through @serialport/stream's binding type.
 */
declare module '@serialport/binding-mock' {
  import type { SerialPortStream } from '@serialport/stream';

  type Binding = ConstructorParameters<typeof SerialPortStream>[0]['binding'];
  type PortBinding = Awaited<ReturnType<Binding['open']>>;

  export interface CreatePortOptions {
    echo?: boolean;
    record?: boolean;
    readyData?: Buffer;
    maxReadSize?: number;
    manufacturer?: string;
    vendorId?: string;
    productId?: string;
  }

  export interface MockPortBinding extends PortBinding {
    emitData(data: Buffer | string): void;
    lastWrite: Buffer | null;
    recording: Buffer;
  }

  export interface MockBindingInterface extends Binding {
    open(options: Parameters<Binding['open']>[0]): Promise<MockPortBinding>;
    reset(): void;
    createPort(path: string, opt?: CreatePortOptions): void;
  }

  export const MockBinding: MockBindingInterface;
}
