"""Floor 4: Chain-of-Attitude, judge, evolution (Algorithm 1), attribute analysis."""
