/** Multi-level undo/redo of whole-state snapshots, bounded by bytes (oldest dropped first). */
export class History<Snapshot> {
  readonly undoStack: Snapshot[] = [];
  readonly redoStack: Snapshot[] = [];

  constructor(private readonly maxBytes: number) {}

  /** Before an edit: `current` goes onto the undo stack, the redo stack is cleared. */
  push(current: Snapshot, bytesPerState: number): void {
    this.undoStack.push(current);
    this.redoStack.length = 0;
    while (this.undoStack.length > 1 && this.undoStack.length * bytesPerState > this.maxBytes) this.undoStack.shift();
  }

  /** An edit that changed nothing: forget its entry. */
  dropLast(): void {
    this.undoStack.pop();
  }

  /** The state to restore on undo (`current` moves to redo), or undefined. */
  undo(current: () => Snapshot): Snapshot | undefined {
    const previous = this.undoStack.pop();
    if (previous !== undefined) this.redoStack.push(current());
    return previous;
  }

  redo(current: () => Snapshot): Snapshot | undefined {
    const next = this.redoStack.pop();
    if (next !== undefined) this.undoStack.push(current());
    return next;
  }
}
