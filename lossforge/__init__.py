"""lossforge: symbolic discovery of Mirror Preference Optimization losses."""
