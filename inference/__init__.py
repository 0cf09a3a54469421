"""What test.py needs around its render loop: the results folder, a new background, the summary and page."""
