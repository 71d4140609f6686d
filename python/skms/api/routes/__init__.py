"""Route handlers by domain: keys, wallets, sys, misc. Each handler calls one service method."""
