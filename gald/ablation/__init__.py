"""Table 1 ablations: the row registry, the head protocol (frozen features) and the end-to-end protocol,
and the paired statistics both report."""
