/**
 * The part of `node:async_hooks` this Worker uses (workerd provides it with
 * `nodejs_compat`); the Worker's types include no Node types.
 */
declare module "node:async_hooks" {
  export class AsyncLocalStorage<T> {
    run<R>(store: T, callback: () => R): R;
    getStore(): T | undefined;
  }
}
