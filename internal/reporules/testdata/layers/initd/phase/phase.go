package phase
