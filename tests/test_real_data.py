"""The real patient in ../shared/data (skipped cleanly when it is absent)."""

import numpy as np
import pydicom
import SimpleITK as sitk

import imgindex


def test_real_patient_scan(real_data):
    files = imgindex.scan(real_data)
    assert files["error"].isna().all()
    dicom_dirs = sorted(real_data.glob("STS_001/*/dicom/image"))
    assert len(dicom_dirs) == 3
    for folder in dicom_dirs:
        paths = {str(p) for p in folder.glob("*.dcm")}
        rows = files[files["file_path"].isin(paths)]
        assert len(rows) == len(paths) > 0
        assert rows["SeriesInstanceUID"].nunique() == 1
        rtstruct = files[files["file_path"] == str(folder.parent / "mask" / "RS.dcm")].iloc[0]
        assert rtstruct.dicom_modality == "RTSTRUCT"
        ds = pydicom.dcmread(rtstruct.file_path)
        # this export's references point at other series UIDs than the shipped slices
        referenced = {
            s.SeriesInstanceUID
            for f in ds.ReferencedFrameOfReferenceSequence
            for st in f.RTReferencedStudySequence
            for s in st.RTReferencedSeriesSequence
        }
        assert set(rtstruct.ReferencedSeriesInstanceUID) == referenced
        assert rtstruct.ROIName == tuple(r.ROIName for r in ds.StructureSetROISequence)
    # the three series share one frame of reference (a known property of this export)
    assert files.loc[files["dicom_modality"].isin(["CT", "PT", "MR"]), "FrameOfReferenceUID"].nunique() == 1


def test_real_patient_nifti_and_numpy_headers(real_data):
    files = imgindex.scan(real_data)
    for _, row in files[files["file_type"] == "nifti"].iterrows():
        image = sitk.ReadImage(row.file_path)
        assert (row.size_x, row.size_y, row.size_z) == image.GetSize()
        np.testing.assert_allclose((row.spacing_x, row.spacing_y, row.spacing_z), image.GetSpacing())
    numpy_rows = files[files["file_type"] == "numpy"]
    assert len(numpy_rows) == len(list(real_data.rglob("*.npy")))
