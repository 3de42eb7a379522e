"""sealer's own age implementation, for what pyrage cannot do.

- `format`: the v1 file format (armor, header grammar, stanzas, `AgeError`);
- `stream`: the header MAC and the STREAM payload every age file shares;
- `hpke`: the MLKEM768-X25519 hybrid KEM and HPKE base mode;
- `hybrid`: post-quantum `age1pq1…` recipients and `AGE-SECRET-KEY-PQ-1…` identities;
- `bech32`: Bech32 without BIP 173's length limit.

`sealer.agefile` is the entry point the rest of sealer uses.
"""

__all__: list[str] = []
