"""Echo datasets as MONAI datalists: CAMUS, EchoNet-Dynamic, DICOM cine loops and the built-in synthetic generator."""
