"""The pipeline board: a requisition's open applications, one column per stage."""
