"""`/chain watch`: channels told about every change to a chain, including those made outside chainops."""
