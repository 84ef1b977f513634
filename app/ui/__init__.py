"""The Qt widgets: the main window (wiring), the canvas, the side panels, the class palette and the icons."""
