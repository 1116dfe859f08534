"""Image handling shared by every stage: reading files and arrays into one pixel format, cutting face crops
the way a classifier checkpoint prescribes, and measuring sharpness."""
