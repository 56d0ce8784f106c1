// libnftables through koffi, loaded on first use: the library is optional on
// a host, so its absence is an answer (a missing dependency), not a crash.
import { errorMessage } from '../model.js';
import { loadLibrary } from './libc.js';

export const LIBNFTABLES = 'libnftables.so.1';
/** nft_ctx_new flags: NFT_CTX_DEFAULT. */
const NFT_CTX_DEFAULT = 0;

type KoffiFn = (...args: unknown[]) => unknown;

/** The few calls CRIU makes, bound. */
interface NftBindings {
  ctxNew: KoffiFn;
  ctxFree: KoffiFn;
  bufferOutput: KoffiFn;
  bufferError: KoffiFn;
  getErrorBuffer: KoffiFn;
  runCmd: KoffiFn;
}

let loaded: NftBindings | { error: string } | undefined;

/** Bind libnftables once; the reason when it cannot be loaded. */
export function loadNftables(): NftBindings | { error: string } {
  if (loaded) return loaded;
  try {
    const lib = loadLibrary(LIBNFTABLES);
    loaded = {
      ctxNew: lib.func('void *nft_ctx_new(uint32_t flags)') as unknown as KoffiFn,
      ctxFree: lib.func('void nft_ctx_free(void *ctx)') as unknown as KoffiFn,
      bufferOutput: lib.func('int nft_ctx_buffer_output(void *ctx)') as unknown as KoffiFn,
      bufferError: lib.func('int nft_ctx_buffer_error(void *ctx)') as unknown as KoffiFn,
      getErrorBuffer: lib.func('const char *nft_ctx_get_error_buffer(void *ctx)') as unknown as KoffiFn,
      runCmd: lib.func('int nft_run_cmd_from_buffer(void *ctx, const char *buf)') as unknown as KoffiFn,
    };
  } catch (err) {
    loaded = { error: errorMessage(err) };
  }
  return loaded;
}

/** The outcome of one nft command: 0 on success, and what nft would have printed on stderr. */
export interface NftResult {
  status: number;
  error: string;
}

/**
 * An nft context whose output and errors are buffered (never printed on the
 * runner's stderr). Its netlink socket belongs to the network namespace the
 * calling thread is in when the first command runs.
 */
export class NftContext {
  private constructor(
    private readonly nft: NftBindings,
    private readonly ctx: unknown,
  ) {}

  static create(nft: NftBindings): NftContext | undefined {
    const ctx = nft.ctxNew(NFT_CTX_DEFAULT);
    if (!ctx) return undefined;
    nft.bufferOutput(ctx);
    nft.bufferError(ctx);
    return new NftContext(nft, ctx);
  }

  run(command: string): NftResult {
    const status = this.nft.runCmd(this.ctx, command) as number;
    // The error buffer holds this command's messages; it is reset by the next read.
    const error = (this.nft.getErrorBuffer(this.ctx) as string | null) ?? '';
    return { status, error: error.trim() };
  }

  free(): void {
    this.nft.ctxFree(this.ctx);
  }
}
