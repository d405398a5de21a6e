"""Global search: candidates, requisitions and holds the signed-in user may see."""
