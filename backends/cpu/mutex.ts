/**
 * The process-wide device lock: builds may overlap each other, but a timing run holds the
 * machine alone (no build, no other run), so compilers never disturb a measurement.
 */
type Waiter = { exclusive: boolean; resolve: () => void };

class DeviceLock {
  private shared = 0;
  private exclusive = false;
  private queue: Waiter[] = [];

  private pump(): void {
    while (this.queue.length > 0) {
      const w = this.queue[0];
      if (w.exclusive) {
        if (this.exclusive || this.shared > 0) return;
        this.exclusive = true;
      } else {
        if (this.exclusive) return;
        this.shared++;
      }
      this.queue.shift();
      w.resolve();
    }
  }

  private acquire(exclusive: boolean): Promise<() => void> {
    return new Promise((resolve) => {
      this.queue.push({
        exclusive,
        resolve: () => {
          let released = false;
          resolve(() => {
            if (released) return;
            released = true;
            if (exclusive) this.exclusive = false;
            else this.shared--;
            this.pump();
          });
        },
      });
      this.pump();
    });
  }

  /** Many builds at once; never during a run. */
  async withBuild<T>(fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire(false);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  /** One run at a time, never during a build. */
  async withRun<T>(fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire(true);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  /** For tests: whether a run holds the lock now. */
  get running(): boolean {
    return this.exclusive;
  }
  get building(): number {
    return this.shared;
  }
}

export const deviceLock = new DeviceLock();
