import { MemoryTokenDenylist } from '../../src/stores/memory/index.ts'
import { runTokenDenylistContract } from './token-denylist.contract.ts'

runTokenDenylistContract('memory', {
  open: async (clock) => new MemoryTokenDenylist({ clock, sweepIntervalMs: 0 }),
})
